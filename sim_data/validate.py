"""Validation of logged-data tables against :mod:`sim_data.schema`.

:func:`validate` coerces a DataFrame to the canonical dtypes and checks every column and invariant; it
collects every problem and raises one :class:`~sim_data.errors.SchemaError` listing them all, each naming
its column, up to 10 offending rows, and what was expected versus found. It never modifies its input.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim_data.errors import MAX_ROWS_SHOWN, Problem, SchemaError
from sim_data.schema import Column, TableSchema, schema_for

_TOLERANCE = 1e-9


def _rows(mask: np.ndarray) -> tuple[tuple[int, ...], int]:
    idx = np.flatnonzero(np.asarray(mask, dtype=bool))
    return tuple(int(i) for i in idx[:MAX_ROWS_SHOWN]), int(idx.size)


def _problem(column: str, expected: str, found: str, mask: np.ndarray | None = None) -> Problem:
    if mask is None:
        return Problem(column, expected, found)
    rows, n = _rows(mask)
    return Problem(column, expected, found, rows, n)


def _examples(values: pd.Series, mask: np.ndarray, k: int = 3) -> str:
    shown = [repr(v) for v in pd.Series(values)[np.asarray(mask, dtype=bool)].head(k).tolist()]
    return ", ".join(shown)


def _to_int(col: Column, raw: pd.Series, problems: list[Problem]) -> pd.Series | None:
    if pd.api.types.is_bool_dtype(raw):
        return raw.astype("int64")
    num = pd.to_numeric(raw, errors="coerce") if not pd.api.types.is_numeric_dtype(raw) else raw.astype("float64")
    null = raw.isna().to_numpy()
    unparsable = num.isna().to_numpy() & ~null
    if unparsable.any():
        problems.append(_problem(col.name, "integers", f"non-numeric values ({_examples(raw, unparsable)})", unparsable))
        return None
    values = num.to_numpy(dtype="float64")
    fractional = ~null & np.isfinite(values) & (values != np.round(values))
    infinite = ~null & ~np.isfinite(np.nan_to_num(values, nan=0.0))
    if fractional.any():
        problems.append(_problem(col.name, "integers", f"fractional values ({_examples(raw, fractional)})", fractional))
    if infinite.any():
        problems.append(_problem(col.name, "integers", "infinite values", infinite))
    if fractional.any() or infinite.any():
        return None
    if null.any():
        return pd.Series(values, index=raw.index)  # kept as float; the null check reports the NaN rows
    return pd.Series(values.astype("int64"), index=raw.index)


def _to_float(col: Column, raw: pd.Series, problems: list[Problem]) -> pd.Series | None:
    if pd.api.types.is_bool_dtype(raw):
        return raw.astype("float64")
    num = pd.to_numeric(raw, errors="coerce") if not pd.api.types.is_numeric_dtype(raw) else raw
    num = num.astype("float64")
    null = raw.isna().to_numpy()
    unparsable = num.isna().to_numpy() & ~null
    if unparsable.any():
        problems.append(_problem(col.name, "numbers", f"non-numeric values ({_examples(raw, unparsable)})", unparsable))
        return None
    infinite = np.isinf(num.to_numpy())
    if infinite.any():
        problems.append(_problem(col.name, "finite numbers", "infinite values", infinite))
        return None
    return num


def _to_time(col: Column, raw: pd.Series, problems: list[Problem]) -> pd.Series | None:
    if pd.api.types.is_datetime64_any_dtype(raw):
        out = raw
    elif pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_bool_dtype(raw):
        problems.append(_problem(col.name, "timestamps (ISO 8601 strings or datetimes)", f"dtype {raw.dtype}"))
        return None
    else:
        out = pd.to_datetime(raw, errors="coerce", utc=True, format="mixed")
        unparsable = out.isna().to_numpy() & ~raw.isna().to_numpy()
        if unparsable.any():
            problems.append(_problem(col.name, "timestamps (ISO 8601)", f"unparsable values ({_examples(raw, unparsable)})",
                                     unparsable))
            return None
    if getattr(out.dt, "tz", None) is None:
        out = out.dt.tz_localize("UTC")
    else:
        out = out.dt.tz_convert("UTC")
    return out


def _to_string(col: Column, raw: pd.Series, problems: list[Problem]) -> pd.Series:
    null = raw.isna()
    out = raw.astype("object").where(null, raw.astype(str))
    return out


def _to_feature(col: Column, raw: pd.Series, problems: list[Problem]) -> pd.Series:
    if pd.api.types.is_bool_dtype(raw):
        return raw.astype("int64")
    if pd.api.types.is_numeric_dtype(raw):
        values = raw.astype("float64")
        infinite = np.isinf(values.to_numpy())
        if infinite.any():
            problems.append(_problem(col.name, "finite numbers or strings", "infinite values", infinite))
        return raw
    return raw.astype("object").where(raw.isna(), raw.astype(str))


def _coerce(col: Column, raw: pd.Series, problems: list[Problem]) -> pd.Series | None:
    if col.kind == "int":
        return _to_int(col, raw, problems)
    if col.kind == "float":
        return _to_float(col, raw, problems)
    if col.kind == "time":
        return _to_time(col, raw, problems)
    if col.kind == "string":
        return _to_string(col, raw, problems)
    if col.kind == "feature":
        return _to_feature(col, raw, problems)
    if col.kind == "int_or_time":
        if pd.api.types.is_datetime64_any_dtype(raw):
            return _to_time(col, raw, problems)
        if pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_bool_dtype(raw):
            return _to_int(col, raw, problems)
        as_num = pd.to_numeric(raw, errors="coerce")
        if as_num.notna().sum() == raw.notna().sum():
            return _to_int(col, as_num, problems)
        return _to_time(col, raw, problems)
    raise ValueError(f"column {col.name!r} has unknown kind {col.kind!r}")  # a schema bug, not bad data


def _check_values(col: Column, values: pd.Series, problems: list[Problem]) -> None:
    null = values.isna().to_numpy()
    if null.any() and not col.nullable:
        problems.append(_problem(col.name, f"{col.expected()} with no missing values", "NaN/empty values", null))
    if col.kind in ("int", "float") or (col.kind == "int_or_time" and pd.api.types.is_numeric_dtype(values)):
        v = values.to_numpy(dtype="float64")
        with np.errstate(invalid="ignore"):
            bad = np.zeros(len(v), dtype=bool)
            if col.lower is not None:
                bad |= (v <= col.lower) if col.lower_open else (v < col.lower)
            if col.upper is not None:
                bad |= v > col.upper
            if col.allowed is not None:
                bad |= ~np.isin(v, np.asarray(col.allowed, dtype="float64"))
        bad &= ~null
        if bad.any():
            problems.append(_problem(col.name, col.expected(), f"values {_examples(values, bad)}", bad))


def _frame_problems(df: pd.DataFrame, schema: TableSchema, allow_extra: bool) -> list[Problem]:
    problems: list[Problem] = []
    missing = [c for c in schema.required if c not in df.columns]
    for name in missing:
        problems.append(Problem(name, "a required column", "it missing"))
    dupes = df.columns[df.columns.duplicated()].tolist()
    for name in dupes:
        problems.append(Problem(str(name), "unique column names", "the name more than once"))
    if not allow_extra:
        extra = [str(c) for c in df.columns if c not in schema.names and not schema.is_feature(str(c))]
        for name in extra:
            prefix = f" or feature columns named {schema.feature_prefix}<name>" if schema.feature_prefix else ""
            problems.append(Problem(name, f"only the columns {schema.names}{prefix}", "an extra column"))
    if len(df) == 0:
        problems.append(Problem("<table>", "at least one row", "an empty table"))
    return problems


def validate(
    df: pd.DataFrame,
    kind: str,
    *,
    n_actions: int | None = None,
    n_positions: int | None = None,
    allow_extra: bool = False,
) -> pd.DataFrame:
    """Coerce ``df`` to the canonical schema of ``kind`` and check every column and invariant.

    :param df: the table, one row per record (see :mod:`sim_data.schema`).
    :param kind: ``bandit``, ``choice`` or ``stock``.
    :param n_actions: for bandit tables, the size of the action space (``action`` must be below it).
    :param n_positions: for bandit tables, the number of slots (``position`` must be below it).
    :param allow_extra: keep unknown columns instead of reporting them.
    :return: a new DataFrame with canonical dtypes, canonical columns first, then feature columns.
    :raises SchemaError: listing every problem found.
    """
    schema = schema_for(kind)
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{kind} table must be a pandas DataFrame, got {type(df).__name__}")
    problems = _frame_problems(df, schema, allow_extra)
    if any(p.expected == "unique column names" for p in problems):
        raise SchemaError(kind, problems)
    frame = df.reset_index(drop=True)
    out: dict[str, pd.Series] = {}
    for col in schema.columns:
        if col.name not in frame.columns:
            continue
        coerced = _coerce(col, frame[col.name], problems)
        if coerced is not None:
            _check_values(col, coerced, problems)
            out[col.name] = coerced
    features = [str(c) for c in frame.columns if schema.is_feature(str(c))]
    for name in features:
        fcol = Column(name, "feature")
        coerced = _coerce(fcol, frame[name], problems)
        _check_values(fcol, coerced, problems)
        out[name] = coerced
    if allow_extra:
        for name in frame.columns:
            if name not in out and name not in schema.names:
                out[str(name)] = frame[name]
    checked = pd.DataFrame(out, index=frame.index)
    _TABLE_CHECKS[kind](checked, problems, n_actions=n_actions, n_positions=n_positions)
    if problems:
        raise SchemaError(kind, problems)
    return checked


def _have(df: pd.DataFrame, *names: str) -> bool:
    return all(n in df.columns and not df[n].isna().all() for n in names)


def _check_bandit(df: pd.DataFrame, problems: list[Problem], *, n_actions=None, n_positions=None) -> None:
    if "event_id" in df.columns:
        dup = df["event_id"].duplicated(keep=False).to_numpy() & df["event_id"].notna().to_numpy()
        if dup.any():
            problems.append(_problem("event_id", "unique event ids", f"duplicates ({_examples(df['event_id'], dup)})", dup))
    if "propensity" in df.columns:
        null = df["propensity"].isna().to_numpy()
        if null.any() and not null.all():
            problems.append(_problem("propensity", "a value in (0, 1] on every row, or NaN on every row (unknown)",
                                     "NaN on some rows only", null))
    if n_actions is not None and "action" in df.columns and pd.api.types.is_integer_dtype(df["action"]):
        bad = df["action"].to_numpy() >= n_actions
        if bad.any():
            problems.append(_problem("action", f"action ids below n_actions={n_actions}", f"values {_examples(df['action'], bad)}", bad))
    if n_positions is not None and "position" in df.columns and pd.api.types.is_integer_dtype(df["position"]):
        bad = df["position"].to_numpy() >= n_positions
        if bad.any():
            problems.append(_problem("position", f"positions below n_positions={n_positions}",
                                     f"values {_examples(df['position'], bad)}", bad))
    if "candidates" in df.columns and "action" in df.columns and pd.api.types.is_integer_dtype(df["action"]):
        unparsable = np.zeros(len(df), dtype=bool)
        absent = np.zeros(len(df), dtype=bool)
        for i, (cands, action) in enumerate(zip(df["candidates"].tolist(), df["action"].tolist(), strict=True)):
            if cands is None or (isinstance(cands, float) and np.isnan(cands)):
                continue
            try:
                ids = {int(tok) for tok in str(cands).split()}
            except ValueError:
                unparsable[i] = True
                continue
            if action not in ids:
                absent[i] = True
        if unparsable.any():
            problems.append(_problem("candidates", "space-separated integer action ids",
                                     f"values {_examples(df['candidates'], unparsable)}", unparsable))
        if absent.any():
            problems.append(_problem("action", "the chosen action among the row's candidates", "actions not in candidates",
                                     absent))


def _check_choice(df: pd.DataFrame, problems: list[Problem], **_: object) -> None:
    if _have(df, "occasion_id", "product"):
        dup = df.duplicated(["occasion_id", "product"], keep=False).to_numpy()
        if dup.any():
            problems.append(_problem("occasion_id, product", "each product at most once per occasion", "repeated products",
                                     dup))
    if _have(df, "occasion_id", "chosen") and pd.api.types.is_integer_dtype(df["chosen"]):
        per = df.groupby("occasion_id", sort=False)["chosen"].transform("sum").to_numpy()
        bad = per > 1
        if bad.any():
            problems.append(_problem("chosen", "at most one chosen product per occasion", "occasions with several", bad))
    for other in ("shopper_id", "time"):
        if _have(df, "occasion_id", other):
            n = df.groupby("occasion_id", sort=False)[other].transform("nunique").to_numpy()
            bad = n > 1
            if bad.any():
                problems.append(_problem(other, f"one {other} per occasion", f"occasions with several values of {other}", bad))
    if _have(df, "shopper_id", "time"):
        t = df["time"]
        prev = t.groupby(df["shopper_id"], sort=False).shift(1)
        with np.errstate(invalid="ignore"):
            back = (t < prev).fillna(False).to_numpy(dtype=bool)
        if back.any():
            problems.append(_problem("time", "time non-decreasing within each shopper (in row order)",
                                     "time going backwards", back))
    if _have(df, "chosen", "quantity") and pd.api.types.is_integer_dtype(df["chosen"]):
        q = df["quantity"].to_numpy(dtype="float64")
        c = df["chosen"].to_numpy()
        bad = ((c == 1) & (q <= 0)) | ((c == 0) & (q > 0))
        if bad.any():
            problems.append(_problem("quantity", "quantity > 0 on the chosen row and 0 on the others",
                                     "quantities that disagree with chosen", bad))


def _check_stock(df: pd.DataFrame, problems: list[Problem], **_: object) -> None:
    if _have(df, "product", "period"):
        dup = df.duplicated(["product", "period"], keep=False).to_numpy()
        if dup.any():
            problems.append(_problem("product, period", "one row per product and period", "repeated (product, period)", dup))
    if _have(df, "sold", "on_hand", "received"):
        with np.errstate(invalid="ignore"):
            bad = (df["sold"] > df["on_hand"] + df["received"] + _TOLERANCE).to_numpy(dtype=bool)
        if bad.any():
            problems.append(_problem("sold", "sold <= on_hand + received", "more sold than available", bad))


_TABLE_CHECKS = {"bandit": _check_bandit, "choice": _check_choice, "stock": _check_stock}
