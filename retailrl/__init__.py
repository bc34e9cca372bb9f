"""retailrl: reinforcement-learning marketing and pricing optimizer for online shops (the CLI lives here)."""

__version__ = "0.1.0"
