"""The Open Bandit Dataset (ZOZOTOWN, CC BY 4.0) as canonical bandit feedback.

Saito, Aihara, Matsutani, Narita, "Open Bandit Dataset and Pipeline", NeurIPS 2021 Datasets and Benchmarks.
Six tables: two logging policies (``random``: uniform; ``bts``: Bernoulli Thompson sampling) times three
campaigns (``all``: 80 items, ``men``: 34, ``women``: 46); each impression fills one of 3 slots.

:func:`load_obd` maps a table into :data:`sim_data.schema.BANDIT`:

=========================  ==========================================================
raw OBD column             canonical column
=========================  ==========================================================
(row number in the file)   ``event_id`` = ``obd/{policy}/{campaign}/{row}``
timestamp                  ``timestamp`` (UTC)
item_id                    ``action``
position (1..3)            ``position`` (0..2)
propensity_score           ``propensity``
click (0/1)                ``reward`` (float)
user_feature_k             ``context_user_feature_k`` (hashed strings)
user-item_affinity_k       ``context_affinity_k`` (floats)
=========================  ==========================================================

Item features (``item_context.csv``: ``item_feature_0`` a float, ``item_feature_1..3`` hashed strings) become
the log's ``action_context``, indexed by ``item_id`` (= action id). With ``path=None`` the 10k-row sample is
loaded from the cache (fetched from PyPI on first use, see :mod:`sim_data.sources.obd_fetch`); with a path, the
full dataset is read from its directory layout ``{policy}/{campaign}/{campaign}.csv`` + ``item_context.csv``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from sim_data.logs import BanditLog, Provenance
from sim_data.sources.obd_fetch import (
    CAMPAIGNS,
    CITATION,
    LICENCE,
    LICENCE_URL,
    N_ITEMS,
    N_POSITIONS,
    POLICIES,
    PRIOR_FILE,
    PROVENANCE_FILE,
    ChecksumMismatchError,
    check_names,
    fetch_obd_sample,
    normalise_log,
    obd_table_name,
    read_raw_csv,
    table_files,
)

__all__ = [
    "CAMPAIGNS", "N_ITEMS", "N_POSITIONS", "POLICIES", "ChecksumMismatchError", "fetch_obd_sample", "load_bts_prior",
    "load_obd", "obd_table_name", "parse_simple_yaml",
]

LOG_COLUMNS = {"timestamp": "timestamp", "item_id": "action", "position": "position",
               "propensity_score": "propensity", "click": "reward"}
"""Raw OBD log column -> canonical bandit column."""
ITEM_FEATURES = ("item_feature_0", "item_feature_1", "item_feature_2", "item_feature_3")
_USER_FEATURE = re.compile(r"^user_feature_(\d+)$")
_AFFINITY = re.compile(r"^user-item_affinity_(\d+)$")
_SUFFIXES = (".parquet", ".csv")


def _find(root: Path, policy: str, campaign: str) -> tuple[Path, Path]:
    """The log and item-context files of one table under ``root``, Parquet preferred over CSV."""
    found = []
    for which in (0, 1):
        candidates = [table_files(root, policy, campaign, s)[which] for s in _SUFFIXES]
        hit = next((p for p in candidates if p.is_file()), None)
        if hit is None:
            raise FileNotFoundError(
                f"Open Bandit Dataset table obd/{policy}/{campaign}: expected the file {candidates[1]} "
                f"(or {candidates[0].name} beside it) under {root}, in the layout "
                "{random,bts}/{all,men,women}/<campaign>.csv + item_context.csv")
        found.append(hit)
    return found[0], found[1]


def _read(path: Path, max_rows: int | None = None) -> pd.DataFrame:
    if path.suffix == ".csv":
        return read_raw_csv(path, max_rows=max_rows)
    df = pd.read_parquet(path)
    return df if max_rows is None else df.iloc[:max_rows].reset_index(drop=True)


def _bad_rows(mask: pd.Series) -> str:
    rows = np.flatnonzero(mask.to_numpy())
    return f"{rows.size} row(s), first rows {rows[:5].tolist()}"


def _to_bandit_frame(raw: pd.DataFrame, policy: str, campaign: str, where: Path) -> pd.DataFrame:
    """Map a raw OBD log (as read) to canonical bandit columns; the table is validated afterwards."""
    missing = [c for c in LOG_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(f"{where}: missing column(s) {missing}; an Open Bandit Dataset log has columns "
                         f"{list(LOG_COLUMNS)} plus user_feature_* and user-item_affinity_*")
    raw = normalise_log(raw, str(where))
    position = pd.to_numeric(raw["position"], errors="coerce")
    bad = ~position.isin(range(1, N_POSITIONS + 1))
    if bad.any():
        raise ValueError(f"{where}: column 'position' expected slots 1..{N_POSITIONS}, found "
                         f"{raw['position'][bad].head(3).tolist()} in {_bad_rows(bad)} (rows are 0-based)")
    click = pd.to_numeric(raw["click"], errors="coerce")
    bad = ~click.isin((0, 1))
    if bad.any():
        raise ValueError(f"{where}: column 'click' expected 0 or 1, found {raw['click'][bad].head(3).tolist()} "
                         f"in {_bad_rows(bad)} (rows are 0-based)")
    out = {
        "event_id": f"obd/{policy}/{campaign}/" + pd.Series(np.arange(len(raw)), dtype="int64").astype(str),
        "timestamp": raw["timestamp"],
        "action": raw["item_id"],
        "position": position - 1,
        "propensity": raw["propensity_score"],
        "reward": click.astype("float64"),
    }
    users, affinities, others = [], [], []
    for name in raw.columns:
        if name in LOG_COLUMNS:
            continue
        if m := _USER_FEATURE.match(str(name)):
            users.append((int(m.group(1)), name, f"context_user_feature_{m.group(1)}"))
        elif m := _AFFINITY.match(str(name)):
            affinities.append((int(m.group(1)), name, f"context_affinity_{m.group(1)}"))
        else:
            others.append((0, name, "context_" + re.sub(r"[^0-9A-Za-z_]", "_", str(name))))
    for _, name, canonical in sorted(users) + sorted(affinities) + others:
        out[canonical] = raw[name]
    return pd.DataFrame(out)


def _action_context(items: pd.DataFrame, where: Path) -> pd.DataFrame:
    """Item features indexed by ``item_id``; checks the ids are exactly ``0..n-1``."""
    missing = [c for c in ("item_id", *ITEM_FEATURES) if c not in items.columns]
    if missing:
        raise ValueError(f"{where}: missing column(s) {missing}; expected item_id and {list(ITEM_FEATURES)}")
    ids = pd.to_numeric(items["item_id"], errors="coerce")
    expected = np.arange(len(items))
    if ids.isna().any() or not np.array_equal(np.sort(ids.to_numpy()), expected):
        raise ValueError(f"{where}: column 'item_id' expected each of the ids 0..{len(items) - 1} exactly once, "
                         f"found {ids.head(5).tolist()}...")
    context = items.assign(item_id=ids.astype("int64")).set_index("item_id").sort_index()
    context = context[list(ITEM_FEATURES)].copy()
    context["item_feature_0"] = pd.to_numeric(context["item_feature_0"], errors="raise").astype("float64")
    for name in ITEM_FEATURES[1:]:
        context[name] = context[name].astype(str)
    return context


def _provenance(root: Path, policy: str, campaign: str, log_file: Path, items_file: Path) -> Provenance:
    details = {"table": obd_table_name(policy, campaign), "log_file": str(log_file),
               "item_context_file": str(items_file), "citation": CITATION, "licence_url": LICENCE_URL}
    record_file = root / PROVENANCE_FILE
    if record_file.is_file():
        record = json.loads(record_file.read_text())
        details = {**record, **details}
        return Provenance(source=record.get("source", str(root)), licence=record.get("licence", LICENCE),
                          details=details)
    return Provenance(source=f"Open Bandit Dataset files under {root}", licence=LICENCE, details=details)


def load_obd(policy: str = "random", campaign: str = "all", path: str | Path | None = None, *,
             cache_dir: Path | None = None, max_rows: int | None = None) -> BanditLog:
    """Load one Open Bandit Dataset table as validated bandit feedback.

    :param policy: the logging policy, ``random`` or ``bts``.
    :param campaign: the campaign, ``all`` (80 items), ``men`` (34) or ``women`` (46).
    :param path: ``None`` loads the cached 10k-row sample (fetching it from PyPI on first use); a directory
        loads the full dataset from ``{policy}/{campaign}/{campaign}.csv`` and ``item_context.csv`` under it
        (the cached Parquet layout, ``.parquet`` files in the same places, is read too).
    :param cache_dir: where the sample is cached when ``path`` is ``None`` (default :func:`sim_data.io.cache_dir`).
    :param max_rows: read only the first rows of the log (for a quick look at the full dataset).
    :return: a :class:`~sim_data.logs.BanditLog` with ``n_actions`` = items in the campaign, ``n_positions`` = 3,
        ``action_context`` of shape ``(n_actions, 4)`` indexed by item id, and ``logging_policy`` = ``policy``.
    :raises ValueError: for an unknown policy/campaign or a malformed file (naming the file and column).
    :raises FileNotFoundError: naming the expected path when a file is missing.
    :raises SchemaError: when the mapped table breaks the bandit schema.
    """
    check_names(policy, campaign)
    if max_rows is not None and (not isinstance(max_rows, int | np.integer) or max_rows < 1):
        raise ValueError(f"max_rows must be a positive integer or None, got {max_rows!r}")
    if path is None:
        root = fetch_obd_sample(cache_dir)
    else:
        root = Path(path).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"path={str(root)!r} is not a directory; expected the Open Bandit Dataset's root, "
                                    "holding {random,bts}/{all,men,women}/<campaign>.csv + item_context.csv")
    log_file, items_file = _find(root, policy, campaign)
    action_context = _action_context(_read(items_file), items_file)
    frame = _to_bandit_frame(_read(log_file, max_rows), policy, campaign, log_file)
    return BanditLog.from_frame(
        frame,
        n_actions=len(action_context),
        n_positions=N_POSITIONS,
        action_context=action_context,
        provenance=_provenance(root, policy, campaign, log_file, items_file),
        logging_policy=policy,
    )


def load_bts_prior(campaign: str, cache_dir: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The Beta prior obp's Bernoulli Thompson sampling used for a campaign, from the sample's ``prior_bts.yaml``.

    :param campaign: ``all``, ``men`` or ``women``.
    :param cache_dir: where the sample is cached (fetched on first use); default :func:`sim_data.io.cache_dir`.
    :return: ``(alpha, beta)``, float64 arrays of shape ``(n_items,)``, indexed by item id.
    :raises ValueError: for an unknown campaign or a prior file without positive alpha/beta of the right length.
    """
    check_names("bts", campaign)
    prior_file = fetch_obd_sample(cache_dir) / PRIOR_FILE
    prior = parse_simple_yaml(prior_file.read_text(), where=str(prior_file))
    entry = prior.get(campaign) if isinstance(prior, dict) else None
    if not isinstance(entry, dict):
        raise ValueError(f"{prior_file}: expected a mapping under the key {campaign!r}")
    arrays = []
    for key in ("alpha", "beta"):
        values = entry.get(key)
        if not isinstance(values, list) or not all(isinstance(v, float | int) for v in values):
            raise ValueError(f"{prior_file}: {campaign}.{key} expected a list of numbers, found {values!r:.80}")
        arr = np.asarray(values, dtype=np.float64)
        if arr.shape != (N_ITEMS[campaign],) or not (np.isfinite(arr).all() and (arr > 0).all()):
            raise ValueError(f"{prior_file}: {campaign}.{key} expected {N_ITEMS[campaign]} positive numbers (one per "
                             f"item), found {arr.size} with min {arr.min() if arr.size else None}")
        arrays.append(arr)
    return arrays[0], arrays[1]


def _scalar(text: str) -> object:
    """A YAML scalar: a number when it parses as one, ``None`` for null/~, else the (unquoted) string."""
    if text in ("null", "~", "Null", "NULL"):
        return None
    if text in ("true", "True", "false", "False"):
        return text.lower() == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        pass
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _inline(text: str) -> object:
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        return [_scalar(tok.strip()) for tok in inner.split(",")] if inner else []
    return _scalar(text)


def parse_simple_yaml(text: str, where: str = "<yaml>") -> object:
    """Parse the block-style YAML subset obp's config files use: nested mappings, ``- item`` lists and
    ``[a, b]`` flow lists of scalars, ``#`` comments. (pyyaml is not a dependency.)

    :param text: the YAML document.
    :param where: the file name, for error messages.
    :raises ValueError: naming the line for anything outside the subset (anchors, multi-line strings, tabs, ...).
    """
    lines: list[tuple[int, int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        body = re.sub(r"\s+#.*$", "", line).rstrip()
        if not body.strip() or body.lstrip().startswith("#") or body.strip() in ("---", "..."):
            continue
        if "\t" in line[: len(line) - len(line.lstrip())]:
            raise ValueError(f"{where}: line {number}: tabs are not allowed in YAML indentation")
        lines.append((number, len(body) - len(body.lstrip(" ")), body.strip()))
    if not lines:
        return None
    value, end = _block(lines, 0, lines[0][1], where)
    if end != len(lines):
        number, _, body = lines[end]
        raise ValueError(f"{where}: line {number}: unexpected indentation at {body!r}")
    return value


def _block(lines: list[tuple[int, int, str]], i: int, indent: int, where: str) -> tuple[object, int]:
    """Parse the mapping or list that starts at ``lines[i]`` with the given indentation; return it and the next line."""
    if lines[i][2] == "-" or lines[i][2].startswith("- "):
        items = []
        while i < len(lines) and lines[i][1] == indent and (lines[i][2] == "-" or lines[i][2].startswith("- ")):
            number, _, body = lines[i]
            item = body[1:].strip()
            if not item or item.endswith(":") or ": " in item:
                raise ValueError(f"{where}: line {number}: only scalar list items are supported, found {body!r}")
            items.append(_inline(item))
            i += 1
        return items, i
    mapping: dict[str, object] = {}
    while i < len(lines) and lines[i][1] == indent:
        number, _, body = lines[i]
        key, sep, rest = body.partition(":")
        if not sep or (rest and not rest.startswith(" ")) or not key.strip():
            raise ValueError(f"{where}: line {number}: expected 'key: value' or 'key:', found {body!r}")
        key = str(_scalar(key.strip()))
        if key in mapping:
            raise ValueError(f"{where}: line {number}: key {key!r} appears twice")
        rest = rest.strip()
        i += 1
        if rest:
            mapping[key] = _inline(rest)
        elif i < len(lines) and (lines[i][1] > indent or (lines[i][1] == indent and lines[i][2].startswith("-"))):
            mapping[key], i = _block(lines, i, lines[i][1], where)
        else:
            mapping[key] = None
    if i < len(lines) and lines[i][1] > indent:
        number, _, body = lines[i]
        raise ValueError(f"{where}: line {number}: unexpected indentation at {body!r}")
    return mapping, i
