"""Helpers shared by the CLI modules: printing JSON, turning library errors into clean exits."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

# Piped output (CI logs, `make demo | tee`) gets a wide console instead of rich's 80-column default.
_WIDTH = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 140
console = Console(width=_WIDTH)
err_console = Console(stderr=True, width=_WIDTH)


def print_json(obj: object) -> None:
    """Print ``obj`` as JSON on stdout (plain, so that other programs can parse it)."""
    typer.echo(json.dumps(obj, indent=2, default=str))


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn ``ValueError``/``FileNotFoundError``/``KeyError`` from the library into a message and exit code 2."""
    try:
        yield
    except (ValueError, FileNotFoundError, KeyError) as exc:
        err_console.print(f"[bold red]error:[/bold red] {exc}", markup=True, highlight=False)
        raise typer.Exit(code=2) from None
