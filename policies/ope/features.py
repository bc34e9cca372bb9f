"""Context features for the reward and propensity models: a numeric matrix from a log's context columns."""

from __future__ import annotations

import numpy as np
import pandas as pd

MAX_LEVELS = 200


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
    cols = [c for c in frame.columns if str(c).startswith("context_")]
    if not cols and not any(str(c) in ("action", "reward", "propensity") for c in frame.columns):
        cols = list(frame.columns)
    parts = []
    for c in cols:
        col = frame[c]
        if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
            values = col.to_numpy(dtype=np.float64)
            if np.isnan(values).any():
                values = np.where(np.isnan(values), np.nanmean(values) if (~np.isnan(values)).any() else 0.0, values)
            parts.append(values[:, None])
        else:
            levels = col.astype("string").fillna("<missing>")
            top = levels.value_counts().index[:MAX_LEVELS]
            dummies = pd.get_dummies(levels.where(levels.isin(top), "<other>"), dtype=np.float64)
            parts.append(dummies.to_numpy())
    if not parts:
        return np.zeros((len(frame), 0))
    return np.hstack(parts)
