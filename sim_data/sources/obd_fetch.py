"""Fetch the Open Bandit Dataset sample from the ``obp==0.5.7`` source distribution on PyPI.

The Open Bandit Dataset (ZOZOTOWN; CC BY 4.0; Saito et al., NeurIPS 2021 Datasets and Benchmarks track) ships a
10,000-row sample of each of its six tables inside obp's sdist. ``obp`` itself cannot be installed on Python 3.11,
so :func:`fetch_obd_sample` downloads the sdist with pip (no install, no dependencies), checks its sha256, reads
only the data files out of the archive and caches them as Parquet::

    <cache>/obd/
        provenance.json               source, file, sha256, licence, citation, fetched_at
        prior_bts.yaml                obp's Bernoulli Thompson-sampling prior (alpha/beta per campaign)
        LICENSE                       obp's own licence file (Apache-2.0, covers obp's code)
        {random,bts}/{all,men,women}/{campaign}.parquet
        {random,bts}/{all,men,women}/item_context.parquet

The cache is built in a temporary directory beside ``<cache>/obd`` and renamed into place, so it is either
complete or absent.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from sim_data.io import atomic_write
from sim_data.io import cache_dir as default_cache_dir

POLICIES: tuple[str, ...] = ("random", "bts")
"""The two logging policies of the Open Bandit Dataset: uniform random and Bernoulli Thompson sampling."""
CAMPAIGNS: tuple[str, ...] = ("all", "men", "women")
"""The three campaigns (item sets) of the Open Bandit Dataset."""
N_ITEMS: dict[str, int] = {"all": 80, "men": 34, "women": 46}
"""Items (actions) per campaign."""
N_POSITIONS = 3
"""Slots per impression (positions 1..3 in the raw files, 0..2 in the canonical table)."""

OBP_VERSION = "0.5.7"
OBP_SDIST = f"obp-{OBP_VERSION}.tar.gz"
OBP_SDIST_SHA256 = "3060d67fedfcfadf1e7a6f2608987f74412b5eb74d2c567edeb147595c68f2a0"
SOURCE = f"obp=={OBP_VERSION} sdist from PyPI"
LICENCE = "CC BY 4.0"
LICENCE_URL = "https://research.zozo.com/data.html"
CITATION = ("Yuta Saito, Shunsuke Aihara, Megumi Matsutani, Yusuke Narita. Open Bandit Dataset and Pipeline: "
            "Towards Realistic and Reproducible Off-Policy Evaluation. NeurIPS 2021 Datasets and Benchmarks Track. "
            "arXiv:2008.07146")
CACHE_SUBDIR = "obd"
PRIOR_FILE = "prior_bts.yaml"
PROVENANCE_FILE = "provenance.json"

_ARCHIVE_ROOT = f"obp-{OBP_VERSION}"
_ARCHIVE_DATA = f"{_ARCHIVE_ROOT}/obp/dataset/obd"
_ARCHIVE_PRIOR = f"{_ARCHIVE_ROOT}/obp/policy/conf/{PRIOR_FILE}"
_ARCHIVE_LICENSE = f"{_ARCHIVE_ROOT}/LICENSE"
_PIP_TIMEOUT_S = 600
_HASHED_COLUMNS = {f"user_feature_{k}": str for k in range(4)} | {f"item_feature_{k}": str for k in (1, 2, 3)}
"""Hashed categorical columns: always strings (a hash of digits only must keep its leading zeros)."""


class ChecksumMismatchError(ValueError):
    """The downloaded file's sha256 is not the one expected; nothing was cached from it."""


def obd_table_name(policy: str, campaign: str) -> str:
    """The table's name, ``obd/{policy}/{campaign}``, after checking both names.

    :param policy: ``random`` or ``bts``.
    :param campaign: ``all``, ``men`` or ``women``.
    :raises ValueError: for an unknown policy or campaign, naming the valid ones.
    """
    check_names(policy, campaign)
    return f"obd/{policy}/{campaign}"


def check_names(policy: str, campaign: str) -> None:
    """Raise a ``ValueError`` naming the valid values when ``policy`` or ``campaign`` is not one of them."""
    if policy not in POLICIES:
        raise ValueError(f"policy={policy!r} is not an Open Bandit Dataset logging policy: "
                         f"expected one of {list(POLICIES)}")
    if campaign not in CAMPAIGNS:
        raise ValueError(f"campaign={campaign!r} is not an Open Bandit Dataset campaign: "
                         f"expected one of {list(CAMPAIGNS)}")


def table_files(root: Path, policy: str, campaign: str, suffix: str) -> tuple[Path, Path]:
    """The log file and item-context file of one table under ``root`` in the OBD directory layout.

    :return: ``(root/policy/campaign/campaign{suffix}, root/policy/campaign/item_context{suffix})``.
    """
    folder = Path(root) / policy / campaign
    return folder / f"{campaign}{suffix}", folder / f"item_context{suffix}"


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_complete(folder: Path) -> bool:
    """Whether ``folder`` holds a whole cached sample: provenance, prior and all six tables with item contexts."""
    folder = Path(folder)
    needed = [folder / PROVENANCE_FILE, folder / PRIOR_FILE]
    for policy in POLICIES:
        for campaign in CAMPAIGNS:
            needed += list(table_files(folder, policy, campaign, ".parquet"))
    return all(p.is_file() for p in needed)


def download_sdist(dest: Path) -> Path:
    """Download ``obp==0.5.7``'s sdist from PyPI into ``dest`` with pip (no install) and verify its sha256.

    Uses ``sys.executable -m pip download``, so the machine's pip configuration (index, proxy, certificates)
    applies. Shows a rich status line while pip runs.

    :param dest: an existing directory to download into.
    :return: the path of the verified ``obp-0.5.7.tar.gz``.
    :raises RuntimeError: when pip fails (its output is included).
    :raises ChecksumMismatchError: when the file's sha256 is not :data:`OBP_SDIST_SHA256`.
    """
    from rich.console import Console

    dest = Path(dest)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--python-version", "3.10",
           f"obp=={OBP_VERSION}", "-d", str(dest)]
    console = Console(stderr=True)
    with console.status(f"Downloading {OBP_SDIST} (Open Bandit Dataset sample) from PyPI ..."):
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"pip download of obp=={OBP_VERSION} took over {_PIP_TIMEOUT_S}s; is PyPI reachable? "
                               f"command: {' '.join(cmd)}") from None
    sdist = dest / OBP_SDIST
    if done.returncode != 0 or not sdist.is_file():
        tail = (done.stdout + done.stderr).strip()[-2000:]
        raise RuntimeError(f"could not download {OBP_SDIST} from PyPI (pip exited with {done.returncode}); "
                           f"command: {' '.join(cmd)}\npip said:\n{tail}")
    found = sha256_of(sdist)
    if found != OBP_SDIST_SHA256:
        raise ChecksumMismatchError(f"{OBP_SDIST} from PyPI has sha256 {found}, expected {OBP_SDIST_SHA256}; "
                                    "refusing to use it (nothing was cached)")
    console.log(f"Downloaded {OBP_SDIST} ({sdist.stat().st_size / 1e6:.1f} MB), sha256 verified")
    return sdist


def read_raw_csv(source: str | Path | io.BytesIO, *, max_rows: int | None = None) -> pd.DataFrame:
    """Read an OBD CSV (log or item context) and drop its unnamed leading index column.

    :param source: a path or an in-memory file.
    :param max_rows: read only the first rows (``None``: all of them).
    """
    if max_rows is None:
        # multi-threaded: the full bts/all log has ~12M rows
        df = pd.read_csv(source, engine="pyarrow", dtype=_HASHED_COLUMNS)
    else:
        df = pd.read_csv(source, nrows=max_rows, dtype=_HASHED_COLUMNS)
    first = str(df.columns[0]) if len(df.columns) else ""
    if first == "" or first.startswith("Unnamed: "):
        df = df.drop(columns=df.columns[0])
    return df


def normalise_log(df: pd.DataFrame, where: str) -> pd.DataFrame:
    """Parse the raw log's ``timestamp`` column to UTC datetimes (microseconds); other columns as they are.

    :param df: a raw OBD log (columns ``timestamp, item_id, position, click, propensity_score, ...``).
    :param where: the file the log came from, for error messages.
    :raises ValueError: when ``timestamp`` is missing or holds values that are not timestamps.
    """
    if "timestamp" not in df.columns:
        raise ValueError(f"{where}: expected a 'timestamp' column, found columns {list(df.columns)[:8]}")
    ts = df["timestamp"]
    if not pd.api.types.is_datetime64_any_dtype(ts):
        parsed = pd.to_datetime(ts, utc=True, format="ISO8601", errors="coerce")
        bad = parsed.isna() & ts.notna()
        if bad.any():
            raise ValueError(f"{where}: column 'timestamp' expected ISO 8601 timestamps, found "
                             f"{ts[bad].head(3).tolist()} in {int(bad.sum())} row(s), first at row {int(bad.idxmax())}")
        ts = parsed
    ts = ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC")
    out = df.copy()
    out["timestamp"] = ts.dt.as_unit("us")
    return out


def _member_bytes(archive: tarfile.TarFile, name: str) -> bytes:
    try:
        member = archive.getmember(name)
    except KeyError:
        raise ValueError(f"{OBP_SDIST} has no member {name!r}; is it obp {OBP_VERSION}'s sdist?") from None
    fh = archive.extractfile(member)
    if fh is None:
        raise ValueError(f"{OBP_SDIST}: member {name!r} is not a regular file")
    return fh.read()


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False)


def convert_sdist(sdist: Path, out: Path) -> list[str]:
    """Read the six tables, ``prior_bts.yaml`` and ``LICENSE`` out of the sdist into ``out`` (tables as Parquet).

    Reads archive members into memory by their known names; nothing else in the archive is extracted.

    :param sdist: the verified ``obp-0.5.7.tar.gz``.
    :param out: an empty directory to fill.
    :return: the names of the tables written, ``obd/{policy}/{campaign}``.
    """
    from rich.progress import Progress

    out = Path(out)
    jobs = [(p, c) for p in POLICIES for c in CAMPAIGNS]
    written: list[str] = []
    with tarfile.open(sdist, "r:gz") as archive, Progress(transient=True) as progress:
        task = progress.add_task("Converting the OBD sample to Parquet", total=len(jobs))
        for policy, campaign in jobs:
            log_path, items_path = table_files(out, policy, campaign, ".parquet")
            log_name = f"{_ARCHIVE_DATA}/{policy}/{campaign}/{campaign}.csv"
            items_name = f"{_ARCHIVE_DATA}/{policy}/{campaign}/item_context.csv"
            log = normalise_log(read_raw_csv(io.BytesIO(_member_bytes(archive, log_name))), log_name)
            _write_parquet(log, log_path)
            _write_parquet(read_raw_csv(io.BytesIO(_member_bytes(archive, items_name))), items_path)
            written.append(obd_table_name(policy, campaign))
            progress.advance(task)
        (out / PRIOR_FILE).write_bytes(_member_bytes(archive, _ARCHIVE_PRIOR))
        (out / "LICENSE").write_bytes(_member_bytes(archive, _ARCHIVE_LICENSE))
    return written


def provenance_record(sha256: str, tables: list[str]) -> dict:
    """The contents of ``provenance.json`` for a sample fetched now."""
    return {
        "dataset": "Open Bandit Dataset (ZOZOTOWN), 10,000-row sample of each table",
        "source": SOURCE,
        "url": f"https://pypi.org/project/obp/{OBP_VERSION}/",
        "file": OBP_SDIST,
        "sha256": sha256,
        "licence": LICENCE,
        "licence_url": LICENCE_URL,
        "licence_note": "the data are CC BY 4.0; LICENSE here is obp's Apache-2.0 licence for its code",
        "citation": CITATION,
        "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "tables": tables,
    }


def _install(build: Path, target: Path, force: bool) -> None:
    """Rename the finished ``build`` directory to ``target``, replacing an old or broken one."""
    if target.exists():
        if not force and is_complete(target):
            return  # another process finished first; its copy is as good as ours
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
        os.replace(target, old / target.name)
        try:
            os.replace(build, target)
        except OSError:
            os.replace(old / target.name, target)
            raise
        finally:
            shutil.rmtree(old, ignore_errors=True)
    else:
        try:
            os.replace(build, target)
        except OSError:
            if not is_complete(target):  # lost a race to another process only if its copy is whole
                raise


def fetch_obd_sample(cache_dir: Path | None = None, force: bool = False) -> Path:
    """Download, verify and cache the Open Bandit Dataset sample; return the cache directory.

    A second call returns the cached directory without downloading, unless ``force``. The cache is built in
    a temporary directory beside the target and renamed into place: a failure (network, checksum) leaves
    the cache as it was.

    :param cache_dir: the directory that holds ``obd/``; ``None`` means :func:`sim_data.io.cache_dir`.
    :param force: download and rebuild even when a complete cache exists.
    :return: ``<cache_dir>/obd`` (see the module docstring for its layout).
    :raises RuntimeError: when pip cannot download the sdist.
    :raises ChecksumMismatchError: when the download's sha256 is wrong.
    """
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    target = root / CACHE_SUBDIR
    if not force and is_complete(target):
        return target
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{CACHE_SUBDIR}.", suffix=".tmp", dir=root))
    try:
        download_dir = work / "download"
        download_dir.mkdir()
        sdist = download_sdist(download_dir)
        build = work / CACHE_SUBDIR
        build.mkdir()
        tables = convert_sdist(sdist, build)
        record = provenance_record(sha256_of(sdist), tables)
        atomic_write(build / PROVENANCE_FILE, lambda tmp: tmp.write_text(json.dumps(record, indent=2) + "\n"))
        _install(build, target, force)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target
