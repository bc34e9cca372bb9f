"""Reading tables from CSV/Parquet, writing them atomically, and where retailrl keeps its files."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

SUFFIXES = (".csv", ".parquet", ".pq")


def home_dir() -> Path:
    """The project's data directory: ``$RETAILRL_HOME``, else ``./.retailrl`` (holds the SQLite registry, runs)."""
    path = Path(os.environ.get("RETAILRL_HOME", ".retailrl")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    """Where fetched datasets are cached: ``$RETAILRL_CACHE``, else ``~/.cache/retailrl``."""
    path = Path(os.environ.get("RETAILRL_CACHE", Path.home() / ".cache" / "retailrl")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file, or a directory of Parquet files (one table, files in name order); raises
    ``ValueError`` naming the file for an unknown suffix or a missing file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in (".parquet", ".pq"))
        if not files:
            raise ValueError(f"{path}: a directory, but it holds no .parquet files")
        return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    raise ValueError(f"{path}: expected a file ending in one of {SUFFIXES}, found {suffix or 'no suffix'!r}")


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path``.

    A crash or an exception leaves ``path`` as it was: never half-written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; the result should look like any other file
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` to CSV or Parquet (by suffix), atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return atomic_write(path, lambda tmp: df.to_csv(tmp, index=False))
    if suffix in (".parquet", ".pq"):
        return atomic_write(path, lambda tmp: df.to_parquet(tmp, index=False))
    raise ValueError(f"{path}: expected a file ending in one of {SUFFIXES}, found {suffix or 'no suffix'!r}")


def write_text(path: str | Path, text: str) -> Path:
    """Write text atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text))
