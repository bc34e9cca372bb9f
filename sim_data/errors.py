"""The one error type for bad logged data: every problem found, each naming its column and rows."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_ROWS_SHOWN = 10


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a table.

    :param column: the column (or comma-separated columns) the problem is in; ``<table>`` for whole-table problems.
    :param expected: what the schema expects, in words.
    :param found: what was found, in words.
    :param rows: 0-based data-row positions (header excluded) of the offending rows, at most ``MAX_ROWS_SHOWN``.
    :param n_rows: how many rows offend in all (``len(rows)`` may be smaller).
    """

    column: str
    expected: str
    found: str
    rows: tuple[int, ...] = field(default_factory=tuple)
    n_rows: int = 0

    def __str__(self) -> str:
        text = f"column '{self.column}': expected {self.expected}, found {self.found}"
        if self.n_rows:
            shown = ", ".join(str(r) for r in self.rows[:MAX_ROWS_SHOWN])
            more = f" (and {self.n_rows - len(self.rows[:MAX_ROWS_SHOWN])} more)" if self.n_rows > MAX_ROWS_SHOWN else ""
            text += f" in {self.n_rows} row(s): rows {shown}{more}"
        return text


class SchemaError(ValueError):
    """Raised when a table does not satisfy its schema; lists every problem found at once.

    :param table: the table kind (``bandit``, ``choice`` or ``stock``) or a file name.
    :param problems: the problems found, in column order.
    """

    def __init__(self, table: str, problems: list[Problem]):
        self.table = table
        self.problems = list(problems)
        lines = [f"{table} table failed validation ({len(self.problems)} problem(s); rows are 0-based, header excluded):"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))

    @property
    def columns(self) -> list[str]:
        """The columns named by the problems, in order, without repeats."""
        return list(dict.fromkeys(p.column for p in self.problems))
