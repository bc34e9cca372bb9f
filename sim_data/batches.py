"""Logs too large for memory: a file, a directory of Parquet files or a glob, read in row batches (pyarrow datasets).

:func:`resolve_log_files` turns ``PATH`` into a sorted list of files; :func:`plan_units` cuts them into *units*
(consecutive row groups of one file, about ``unit_rows`` rows each) that know their global row range; and
:func:`iter_unit_batches` reads one unit's columns as :class:`pyarrow.RecordBatch` objects of at most
``batch_size`` rows. Every row has a **global row index**: rows are numbered in the order of the sorted file
names, then within each file. Re-writing a log into more or fewer files (same row order, names that sort in that
order, e.g. ``part-00000.parquet``) or reading it with another batch size keeps every row's index, which is what
makes row-keyed computations (the streaming bootstrap, cross-fitting folds) invariant to the split.

Parquet row counts come from the file footers (no data is read); a CSV file is one unit whose rows are counted by
scanning it once.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds

PARQUET_SUFFIXES = (".parquet", ".pq")
LOG_SUFFIXES = (".csv",) + PARQUET_SUFFIXES
UNIT_ROWS = 1_000_000
BATCH_SIZE = 131_072


@dataclass(frozen=True)
class Unit:
    """A piece of a log one task reads: row groups ``row_groups`` of ``path`` (all of it for CSV).

    :param index: position of the unit in the log (units are merged in this order).
    :param path: the file.
    :param row_groups: Parquet row-group ids, or ``None`` for the whole file.
    :param start: global index of the unit's first row.
    :param n_rows: rows in the unit.
    :param file_start: row of ``path`` the unit starts at (0-based, header excluded).
    """

    index: int
    path: str
    row_groups: tuple[int, ...] | None
    start: int
    n_rows: int
    file_start: int = 0


def resolve_log_files(spec: str | Path) -> list[Path]:
    """The files of a log: one CSV/Parquet file, every Parquet file under a directory (recursively), or a glob.

    :raises FileNotFoundError: when nothing matches, naming ``spec``.
    :raises ValueError: for a file with an unknown suffix or a mix of CSV and Parquet files.
    """
    text = str(spec)
    path = Path(text).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in PARQUET_SUFFIXES
                       and not p.name.startswith((".", "_")))
        if not files:
            raise FileNotFoundError(f"{path}: a directory without Parquet files (*.parquet, *.pq)")
        return files
    if path.is_file():
        files = [path]
    elif any(ch in text for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        if not files:
            raise FileNotFoundError(f"{text}: the glob matches no file")
    else:
        raise FileNotFoundError(f"no such file or directory: {path}")
    bad = [str(p) for p in files if p.suffix.lower() not in LOG_SUFFIXES]
    if bad:
        raise ValueError(f"{bad[0]}: expected a file ending in one of {LOG_SUFFIXES}")
    kinds = {p.suffix.lower() == ".csv" for p in files}
    if len(kinds) > 1:
        raise ValueError(f"{text}: matches both CSV and Parquet files; give one format")
    return files


def file_format(path: str | Path) -> str:
    """``csv`` or ``parquet`` from the suffix."""
    return "csv" if Path(path).suffix.lower() == ".csv" else "parquet"


def _fragment(path: str | Path):
    try:
        dataset = ds.dataset(str(path), format=file_format(path))
        return next(iter(dataset.get_fragments()))
    except (pa.ArrowInvalid, OSError) as exc:
        raise ValueError(f"{path}: not a readable {file_format(path)} file ({exc})") from None


def file_schema(path: str | Path) -> pa.Schema:
    """The columns and types stored in one file (its footer for Parquet, inferred for CSV)."""
    return _fragment(path).physical_schema


def plan_units(files: list[Path], unit_rows: int = UNIT_ROWS) -> list[Unit]:
    """Cut files into units of consecutive row groups holding about ``unit_rows`` rows (at least one group each).

    :raises ValueError: naming a file that is not readable Parquet/CSV.
    """
    if unit_rows < 1:
        raise ValueError(f"unit_rows: expected a positive integer, got {unit_rows!r}")
    units: list[Unit] = []
    start = 0
    for path in files:
        fragment = _fragment(path)
        if file_format(path) == "csv":
            n = int(fragment.count_rows())
            units.append(Unit(len(units), str(path), None, start, n, 0))
            start += n
            continue
        groups: list[int] = []
        rows = 0
        file_start = 0
        for rg in fragment.row_groups:
            groups.append(rg.id)
            rows += rg.num_rows
            if rows >= unit_rows:
                units.append(Unit(len(units), str(path), tuple(groups), start, rows, file_start))
                start, file_start, groups, rows = start + rows, file_start + rows, [], 0
        if groups:
            units.append(Unit(len(units), str(path), tuple(groups), start, rows, file_start))
            start += rows
    return units


def iter_unit_batches(unit: Unit, columns: list[str] | None = None,
                      batch_size: int = BATCH_SIZE) -> Iterator[pa.RecordBatch]:
    """The unit's rows as record batches of at most ``batch_size`` rows, in file order.

    :param columns: the columns to read (all when ``None``).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
    fragment = _fragment(unit.path)
    if unit.row_groups is not None:
        fragment = fragment.subset(row_group_ids=list(unit.row_groups))
    for batch in fragment.to_batches(columns=columns, batch_size=batch_size):
        if batch.num_rows:
            yield batch
