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


class RowProgress:
    """A rich progress bar over rows, on stderr, with rows/s: what the streaming commands report to.

    ``start(description, total_rows)`` opens a bar (closing the previous one), ``advance(rows)`` moves it;
    use it as a context manager so the last bar is closed. Thread-safe (rich's ``Progress`` locks).
    """

    def __init__(self):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class RowsPerSecond(ProgressColumn):
            def render(self, task) -> Text:
                speed = task.finished_speed or task.speed
                return Text(f"{speed:,.0f} rows/s" if speed else "- rows/s")

        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  RowsPerSecond(), TimeElapsedColumn(), TimeRemainingColumn(), console=err_console)
        self._task = None

    def __enter__(self) -> RowProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()

    def start(self, description: str, total_rows: int) -> None:
        if self._task is not None:
            self._progress.update(self._task, completed=self._progress.tasks[-1].total)
        self._task = self._progress.add_task(description, total=total_rows)

    def advance(self, rows: int) -> None:
        self._progress.advance(self._task, rows)
