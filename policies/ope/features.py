"""Context features for the reward and propensity models: a numeric matrix from a log's context columns.

:class:`ContextEncoder` learns the encoding from one frame (a whole log, or a bounded sample of a log too large
for memory) and applies it to any frame with the same columns, batch by batch: numeric ``context_*`` columns as
they are (NaN filled with the fitted mean), string columns one-hot encoded over their 200 most frequent levels in
the fitted frame (sorted, as :func:`pandas.get_dummies` orders them; rarer levels share ``<other>``, unseen levels
too when the fitted frame had an ``<other>`` level, else they get all-zero columns).
:func:`context_features` is fit-and-transform on one frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MAX_LEVELS = 200
OTHER = "<other>"
MISSING = "<missing>"


def _context_columns(frame: pd.DataFrame) -> list[str]:
    cols = [c for c in frame.columns if str(c).startswith("context_")]
    if not cols and not any(str(c) in ("action", "reward", "propensity") for c in frame.columns):
        cols = list(frame.columns)
    return cols


@dataclass(frozen=True)
class ContextEncoder:
    """A fitted encoding: per column ``("num", fill)`` or ``("cat", (levels...))`` in column order.

    :param columns: the encoded columns, in order.
    :param specs: one entry per column: ``("num", mean)`` or ``("cat", sorted levels incl. <other> if any)``.
    """

    columns: tuple[str, ...]
    specs: tuple[tuple[str, object], ...]

    @classmethod
    def fit(cls, frame: pd.DataFrame) -> ContextEncoder:
        """Learn the encoding of ``frame``'s context columns (``context_*``, else all non-log columns)."""
        cols = _context_columns(frame)
        specs = []
        for c in cols:
            col = frame[c]
            if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
                values = col.to_numpy(dtype=np.float64)
                seen = ~np.isnan(values)
                specs.append(("num", float(np.nanmean(values)) if seen.any() else 0.0))
            else:
                levels = col.astype("string").fillna(MISSING)
                top = levels.value_counts().index[:MAX_LEVELS]
                kept = levels.where(levels.isin(top), OTHER)
                specs.append(("cat", tuple(sorted(str(v) for v in kept.unique()))))
        return cls(tuple(str(c) for c in cols), tuple(specs))

    @property
    def n_features(self) -> int:
        return sum(1 if kind == "num" else len(arg) for kind, arg in self.specs)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The float matrix ``(len(frame), n_features)``.

        :raises ValueError: naming a fitted column the frame lacks.
        """
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise ValueError(f"contexts: missing columns {missing} that the encoder was fitted on")
        out = np.zeros((len(frame), self.n_features))
        j = 0
        for c, (kind, arg) in zip(self.columns, self.specs, strict=True):
            col = frame[c]
            if kind == "num":
                values = col.to_numpy(dtype=np.float64)
                nan = np.isnan(values)
                out[:, j] = np.where(nan, arg, values) if nan.any() else values
                j += 1
                continue
            levels = col.astype("string").fillna(MISSING)
            known = pd.Index(arg)
            idx = known.get_indexer(levels.to_numpy(dtype=object))
            if OTHER in arg:
                idx = np.where(idx < 0, known.get_loc(OTHER), idx)
            rows = np.flatnonzero(idx >= 0)
            out[rows, j + idx[rows]] = 1.0
            j += len(arg)
        return out


def context_features(frame: pd.DataFrame | None, n_rounds: int | None = None) -> np.ndarray:
    """Numeric ``context_*`` columns as they are, string columns one-hot encoded (at most 200 levels each).

    :param frame: a bandit table or a frame of context columns; ``None`` or no context columns gives an empty
        ``(n_rounds, 0)`` matrix.
    :param n_rounds: the number of rows when ``frame`` is ``None``.
    :return: float array ``(n_rounds, n_features)``.
    """
    if frame is None:
        if n_rounds is None:
            raise ValueError("context_features: give a frame or n_rounds")
        return np.zeros((n_rounds, 0))
    return ContextEncoder.fit(frame).transform(frame)
