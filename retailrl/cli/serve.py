"""`retailrl serve`: start the bandit decision API (filled in by the decision-API issue)."""

from __future__ import annotations

import typer


def serve(host: str = typer.Option("127.0.0.1"), port: int = typer.Option(8000), workers: int = typer.Option(1)) -> None:
    """Start the decision API (not yet implemented)."""
    typer.echo("retailrl serve is not implemented yet (see the decision-API issue).", err=True)
    raise typer.Exit(code=1)

