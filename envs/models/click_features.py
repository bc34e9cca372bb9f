"""The context and item-feature part of the click model's features: which context columns become one-hots or
standardised numerics (:func:`learn_spec`, learned from the training log), and their sparse matrix
(:func:`context_matrix`). The design matrix and its penalty blocks are built in :mod:`envs.models.click_design`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

AFFINITY_PREFIX = "context_affinity_"


@dataclass
class ContextSpec:
    """What the features are made of, learned from the training log (JSON-ready through :meth:`to_dict`).
    ``affinity`` is kept for the saved format only: :mod:`envs.models.click_design` builds the affinity block and
    always stores ``None`` here."""

    n_actions: int
    categorical: dict[str, list[str]]
    numeric: dict[str, tuple[float, float]]
    affinity: tuple[float, float] | None
    interactions: bool
    item_matrix: list[list[float]] | None = None
    item_feature_names: list[str] | None = None

    def to_dict(self) -> dict:
        return {"n_actions": self.n_actions, "categorical": self.categorical,
                "numeric": {k: list(v) for k, v in self.numeric.items()},
                "affinity": list(self.affinity) if self.affinity else None, "interactions": self.interactions,
                "item_matrix": self.item_matrix, "item_feature_names": self.item_feature_names}

    @classmethod
    def from_dict(cls, d: dict) -> ContextSpec:
        return cls(int(d["n_actions"]), {k: list(v) for k, v in d["categorical"].items()},
                   {k: (float(v[0]), float(v[1])) for k, v in d["numeric"].items()},
                   tuple(d["affinity"]) if d["affinity"] else None, bool(d["interactions"]),
                   d.get("item_matrix"), d.get("item_feature_names"))

    @property
    def n_context(self) -> int:
        """Context columns that interact with items (one-hots + numeric)."""
        return sum(len(v) for v in self.categorical.values()) + len(self.numeric)


def item_feature_matrix(action_context: pd.DataFrame | None, n_actions: int) -> tuple[list[list[float]] | None, list[str] | None]:
    """Item features as a dense ``(n_actions, F)`` matrix (string columns one-hot, numerics standardised)."""
    if action_context is None or len(action_context) != n_actions:
        return None, None
    cols, names = [], []
    for col in action_context.columns:
        values = action_context[col]
        if pd.api.types.is_numeric_dtype(values):
            v = values.to_numpy(dtype=np.float64)
            if v.std() > 0:
                cols.append((v - v.mean()) / v.std())
                names.append(f"item:{col}")
        else:
            v = values.astype(str)
            for cat in sorted(v.unique()):
                if 1 < (v == cat).sum() < n_actions:
                    cols.append((v == cat).to_numpy(dtype=np.float64))
                    names.append(f"item:{col}={cat}")
    if not cols:
        return None, None
    return np.stack(cols, axis=1).tolist(), names


def learn_spec(table: pd.DataFrame, n_actions: int, interactions: bool, max_categories: int = 50,
               action_context: pd.DataFrame | None = None) -> ContextSpec:
    """Which context columns become which features (categories seen, numeric means and scales)."""
    categorical: dict[str, list[str]] = {}
    numeric: dict[str, tuple[float, float]] = {}
    for col in table.columns:
        if not col.startswith("context_") or col.startswith(AFFINITY_PREFIX):
            continue
        values = table[col]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            v = values.to_numpy(dtype=np.float64)
            sd = float(v.std())
            if sd > 0:
                numeric[col] = (float(v.mean()), sd)
        else:
            counts = values.astype(str).value_counts()
            if counts.size > 1:
                categorical[col] = sorted(counts.index[:max_categories].tolist())
    item_matrix, item_names = item_feature_matrix(action_context, n_actions)
    return ContextSpec(n_actions, categorical, numeric, None, bool(interactions), item_matrix, item_names)


def context_matrix(spec: ContextSpec, table: pd.DataFrame) -> sparse.csr_matrix:
    """The interacting context columns (one-hots, standardised numerics), shape ``(n_rows, spec.n_context)``."""
    blocks = []
    for col, cats in spec.categorical.items():
        if col not in table.columns:
            raise ValueError(f"context column {col!r} (used when the model was fitted) is missing from the log")
        # unseen categories get code -1 (no one-hot column), without pandas' deprecated unknown-value coercion
        codes = pd.Index(cats).get_indexer(table[col].astype(str))
        rows = np.flatnonzero(codes >= 0)
        blocks.append(sparse.csr_matrix((np.ones(rows.size), (rows, codes[rows])), shape=(len(table), len(cats))))
    for col, (mean, sd) in spec.numeric.items():
        if col not in table.columns:
            raise ValueError(f"context column {col!r} (used when the model was fitted) is missing from the log")
        blocks.append(sparse.csr_matrix(((table[col].to_numpy(dtype=np.float64) - mean) / sd)[:, None]))
    if not blocks:
        return sparse.csr_matrix((len(table), 0))
    return sparse.hstack(blocks, format="csr")
