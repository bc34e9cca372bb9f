"""`retailrl dashboard`: start the Streamlit approval dashboard on 127.0.0.1 (filled in by the dashboard issue)."""

from __future__ import annotations

import typer


def dashboard(port: int = typer.Option(8501)) -> None:
    """Start the dashboard (not yet implemented)."""
    typer.echo("retailrl dashboard is not implemented yet (see the dashboard issue).", err=True)
    raise typer.Exit(code=1)
