"""`retailrl train`: training runs (filled in by the training issue)."""

from __future__ import annotations

import typer


def train(config: str = typer.Option(..., "--config", help="A configs/NAME.toml training config.")) -> None:
    """Train a policy on the simulator (not yet implemented)."""
    typer.echo("retailrl train is not implemented yet (see the training-runs issue).", err=True)
    raise typer.Exit(code=1)
