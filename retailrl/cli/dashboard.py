"""`retailrl dashboard`: start the Streamlit approval dashboard on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import typer

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


def streamlit_command(port: int, app: Path = APP) -> list[str]:
    """The command line that serves ``app`` on 127.0.0.1:``port`` (headless, no usage statistics)."""
    return [sys.executable, "-m", "streamlit", "run", str(app), "--server.address", "127.0.0.1",
            "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", "--global.developmentMode", "false", "--client.toolbarMode", "viewer"]


def dashboard(
    port: int = typer.Option(8501, help="Port on 127.0.0.1."),
    db: str = typer.Option(None, "--db", help="Registry database URL (default: DATABASE_URL, else registry.db "
                                              "in the data directory)."),
    idle_minutes: float = typer.Option(None, help="Sign a session out after this many idle minutes (default 30)."),
) -> None:
    """Start the approval dashboard on http://127.0.0.1:PORT (Ctrl-C stops it)."""
    if not 0 < port < 65536:
        typer.echo(f"error: --port: expected 1-65535, found {port}", err=True)
        raise typer.Exit(code=2)
    env = dict(os.environ)
    root = str(APP.parents[1])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if db:
        env["DATABASE_URL"] = db
    if idle_minutes is not None:
        if idle_minutes <= 0:
            typer.echo(f"error: --idle-minutes: expected a number > 0, found {idle_minutes:g}", err=True)
            raise typer.Exit(code=2)
        env["RETAILRL_DASHBOARD_IDLE_MINUTES"] = str(idle_minutes)
    typer.echo(f"retailrl dashboard: http://127.0.0.1:{port}")
    sys.stdout.flush()
    command = streamlit_command(port)
    if os.name == "posix":  # become streamlit: signals (Ctrl-C, SIGTERM from a supervisor) reach the server itself
        os.execve(command[0], command, env)
    raise typer.Exit(code=subprocess.call(command, env=env))
