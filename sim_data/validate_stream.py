"""Validation of a bandit log too large for memory: batch by batch, with duplicate event ids counted across batches.

:func:`validate_log_files` reads a file, a Parquet directory or a glob (:mod:`sim_data.batches`) in record
batches and runs :func:`sim_data.validate.validate` on each, so every column and per-row invariant of the bandit
schema is checked; each problem is reported with its **file** and its rows **within that file** (0-based, header
excluded). Two invariants span batches and are checked across them:

- **unique event ids**: each batch's ids are hashed to 64 bits (:func:`pandas.util.hash_pandas_object`) and
  spilled, with their global row index, to ``n_partitions`` files on disk by hash; each partition is then loaded,
  sorted and scanned on its own. Memory is bounded by one partition (about 4 million rows, 64 MB), not by the log.
  Two different ids collide with probability below ``n_rows**2 / 2**65`` (3e-4 at 100 million rows);
- **propensities known everywhere or nowhere**: a log whose batches mix logged and missing (NaN) propensities.

At most ``max_problems`` problems are kept (the count of all of them is reported).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sim_data.batches import BATCH_SIZE, Unit, iter_unit_batches, plan_units, resolve_log_files
from sim_data.errors import MAX_ROWS_SHOWN, Problem, SchemaError
from sim_data.validate import validate

ROWS_PER_PARTITION = 4_000_000
MAX_PROBLEMS = 50


@dataclass(frozen=True)
class FileProblem:
    """A :class:`~sim_data.errors.Problem` in one file (its rows are rows of that file)."""

    path: str
    problem: Problem

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


@dataclass
class LogValidation:
    """What :func:`validate_log_files` found.

    :param files: the files read; :param n_rows: rows in all.
    :param problems: the first ``max_problems`` problems; :param n_problems: how many in all.
    :param duplicate_rows: rows whose event id occurs more than once in the log.
    :param summary: rows, files, and (when valid) action/position counts and the reward mean.
    """

    files: list[str]
    n_rows: int = 0
    problems: list[FileProblem] = field(default_factory=list)
    n_problems: int = 0
    duplicate_rows: int = 0
    summary: dict = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return self.n_problems == 0

    def report(self) -> str:
        """Every kept problem, one per line."""
        lines = [f"{self.n_problems} problem(s) in {len(self.files)} file(s), {self.n_rows:,} rows "
                 "(rows are 0-based within each file, header excluded):"]
        lines += [f"  - {p}" for p in self.problems]
        if self.n_problems > len(self.problems):
            lines.append(f"  ... and {self.n_problems - len(self.problems)} more")
        return "\n".join(lines)


class _DuplicateCounter:
    """Event-id hashes spilled by hash into partition files, counted one partition at a time."""

    def __init__(self, directory: Path, n_partitions: int):
        self.n_partitions = n_partitions
        self.paths = [directory / f"ids-{i:05d}.bin" for i in range(n_partitions)]
        for p in self.paths:
            p.write_bytes(b"")

    def add(self, ids: pd.Series, rows: np.ndarray) -> None:
        h = pd.util.hash_pandas_object(ids.astype("string"), index=False).to_numpy(dtype=np.uint64)
        part = (h % np.uint64(self.n_partitions)).astype(np.int64)
        pairs = np.empty((h.size, 2), dtype=np.uint64)
        pairs[:, 0], pairs[:, 1] = h, rows.astype(np.uint64)
        order = np.argsort(part, kind="stable")
        bounds = np.searchsorted(part[order], np.arange(self.n_partitions + 1))
        for i in range(self.n_partitions):
            lo, hi = bounds[i], bounds[i + 1]
            if hi > lo:
                with open(self.paths[i], "ab") as f:
                    f.write(pairs[order[lo:hi]].tobytes())

    def duplicates(self, keep: int = MAX_ROWS_SHOWN) -> tuple[int, np.ndarray]:
        """``(rows with a repeated id, the smallest ``keep`` such global rows)``."""
        count, shown = 0, np.zeros(0, dtype=np.int64)
        for p in self.paths:
            pairs = np.fromfile(p, dtype=np.uint64).reshape(-1, 2)
            if pairs.shape[0] < 2:
                continue
            h = np.sort(pairs[:, 0])
            repeated = np.unique(h[1:][h[1:] == h[:-1]])
            if repeated.size == 0:
                continue
            dup = np.isin(pairs[:, 0], repeated)
            count += int(dup.sum())
            shown = np.sort(np.concatenate([shown, pairs[dup, 1].astype(np.int64)]))[:keep]
        return count, shown


def _file_row(units: list[Unit], row: int) -> tuple[str, int]:
    starts = [u.start for u in units]
    u = units[int(np.searchsorted(starts, row, side="right")) - 1]
    return u.path, int(row - u.start + u.file_start)


def validate_log_files(path: str | Path, *, n_actions: int | None = None, n_positions: int | None = None,
                       batch_size: int = BATCH_SIZE, max_problems: int = MAX_PROBLEMS,
                       rows_per_partition: int = ROWS_PER_PARTITION,
                       progress: Callable[[int], None] | None = None) -> LogValidation:
    """Validate a bandit log batch by batch (see the module).

    :param path: a CSV/Parquet file, a directory of Parquet files or a glob.
    :param n_actions: the action space (``action`` must be below it), or ``None``.
    :param n_positions: the number of slots, or ``None``.
    :param batch_size: rows per record batch.
    :param max_problems: problems kept for the report.
    :param rows_per_partition: rows per spill partition of the duplicate count (its memory bound).
    :param progress: called with the rows of each batch read.
    """
    files = resolve_log_files(path)
    units = plan_units(files)
    n_total = sum(u.n_rows for u in units)
    out = LogValidation(files=[str(f) for f in files], n_rows=n_total)

    def keep(problem: FileProblem) -> None:
        out.n_problems += 1
        if len(out.problems) < max_problems:
            out.problems.append(problem)

    propensity_seen = {"known": None, "unknown": None}
    actions, positions, reward_sum = 0, 0, 0.0
    with tempfile.TemporaryDirectory(prefix="retailrl-validate-") as tmp:
        counter = _DuplicateCounter(Path(tmp), max(1, math.ceil(n_total / rows_per_partition)))
        for unit in units:
            offset = 0
            for batch in iter_unit_batches(unit, None, batch_size):
                frame = batch.to_pandas()
                first = unit.file_start + offset
                try:
                    table = validate(frame, "bandit", n_actions=n_actions, n_positions=n_positions)
                except SchemaError as exc:
                    table = None
                    for p in exc.problems:
                        if p.column == "event_id" and p.expected == "unique event ids":
                            continue  # counted across the whole log below
                        keep(FileProblem(unit.path, Problem(p.column, p.expected, p.found,
                                                            tuple(first + r for r in p.rows), p.n_rows)))
                if "event_id" in frame.columns:
                    counter.add(frame["event_id"], np.arange(unit.start + offset, unit.start + offset + len(frame)))
                if "propensity" in frame.columns:
                    nan = pd.to_numeric(frame["propensity"], errors="coerce").isna().to_numpy()
                    for key, mask in (("known", ~nan), ("unknown", nan)):
                        if mask.any() and propensity_seen[key] is None:
                            propensity_seen[key] = (unit.path, first + int(np.flatnonzero(mask)[0]))
                if table is not None:
                    actions = max(actions, int(table["action"].max()) + 1)
                    positions = max(positions, int(table["position"].max()) + 1)
                    reward_sum += float(table["reward"].sum())
                offset += len(frame)
                if progress is not None:
                    progress(len(frame))
        n_dup, shown = counter.duplicates()
    if n_dup:
        out.duplicate_rows = n_dup
        places = [_file_row(units, int(r)) for r in shown]
        where = ", ".join(f"{Path(f).name} row {r}" for f, r in places)
        keep(FileProblem(str(path), Problem("event_id", "unique event ids across the whole log",
                                            f"{n_dup} rows whose id occurs more than once (first: {where})")))
    if propensity_seen["known"] and propensity_seen["unknown"]:
        (fk, rk), (fu, ru) = propensity_seen["known"], propensity_seen["unknown"]
        keep(FileProblem(str(path), Problem("propensity", "a value on every row of the log, or NaN on every row",
                                            f"logged at {fk} row {rk} but NaN at {fu} row {ru}")))
    out.summary = {"rows": n_total, "files": len(files), "duplicate_event_id_rows": n_dup}
    if out.valid:
        out.summary.update({"n_actions": n_actions or actions, "n_positions": n_positions or positions,
                            "mean_reward": reward_sum / n_total if n_total else float("nan")})
    return out
