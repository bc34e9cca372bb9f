"""Validated containers for the three logged-data tables.

Each container holds a table that passed :func:`sim_data.validate.validate` plus the facts that travel with
it (action space, item features, provenance). Build them with ``from_frame``; the constructor is for code
that already validated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim_data.validate import validate


@dataclass
class Provenance:
    """Where a table came from: a source name, its licence and free-form details (URL, sha256, file)."""

    source: str
    licence: str = "unknown"
    details: dict = field(default_factory=dict)


@dataclass
class BanditLog:
    """Bandit feedback: one row per logged decision (see :data:`sim_data.schema.BANDIT`).

    :param table: the validated table.
    :param n_actions: size of the action space (action ids are ``0..n_actions-1``).
    :param n_positions: number of slots (positions ``0..n_positions-1``).
    :param action_context: optional item features, one row per action id (index = action id).
    :param provenance: where the log came from.
    :param logging_policy: name of the policy that produced the log (``random``, ``bts``, ...).
    """

    table: pd.DataFrame
    n_actions: int
    n_positions: int
    action_context: pd.DataFrame | None = None
    provenance: Provenance = field(default_factory=lambda: Provenance("unknown"))
    logging_policy: str = "unknown"

    @classmethod
    def from_frame(cls, df: pd.DataFrame, *, n_actions: int | None = None, n_positions: int | None = None,
                   **kwargs) -> BanditLog:
        """Validate ``df`` as a bandit table; infer ``n_actions``/``n_positions`` from the data when not given."""
        table = validate(df, "bandit", n_actions=n_actions, n_positions=n_positions)
        n_actions = int(table["action"].max()) + 1 if n_actions is None else int(n_actions)
        n_positions = int(table["position"].max()) + 1 if n_positions is None else int(n_positions)
        return cls(table=table, n_actions=n_actions, n_positions=n_positions, **kwargs)

    def __len__(self) -> int:
        return len(self.table)

    @property
    def context_columns(self) -> list[str]:
        return [c for c in self.table.columns if c.startswith("context_")]

    @property
    def propensity_known(self) -> bool:
        return bool(self.table["propensity"].notna().all())

    @property
    def actions(self) -> np.ndarray:
        return self.table["action"].to_numpy(dtype=np.int64)

    @property
    def positions(self) -> np.ndarray:
        return self.table["position"].to_numpy(dtype=np.int64)

    @property
    def rewards(self) -> np.ndarray:
        return self.table["reward"].to_numpy(dtype=np.float64)

    @property
    def propensities(self) -> np.ndarray:
        return self.table["propensity"].to_numpy(dtype=np.float64)

    def summary(self) -> dict:
        """Rows, action space, positions, mean reward (CTR for clicks) and the propensity range."""
        p = self.table["propensity"]
        return {
            "rows": int(len(self.table)),
            "n_actions": int(self.n_actions),
            "n_positions": int(self.n_positions),
            "ctr": float(self.table["reward"].mean()),
            "propensity_min": float(p.min()) if self.propensity_known else None,
            "propensity_max": float(p.max()) if self.propensity_known else None,
            "propensity_known": self.propensity_known,
            "n_context_features": len(self.context_columns),
            "logging_policy": self.logging_policy,
            "source": self.provenance.source,
        }


@dataclass
class ChoiceLog:
    """Choice/purchase log: one row per offered product per occasion (see :data:`sim_data.schema.CHOICE`)."""

    table: pd.DataFrame
    provenance: Provenance = field(default_factory=lambda: Provenance("unknown"))

    @classmethod
    def from_frame(cls, df: pd.DataFrame, **kwargs) -> ChoiceLog:
        return cls(table=validate(df, "choice"), **kwargs)

    def __len__(self) -> int:
        return len(self.table)

    @property
    def products(self) -> list[str]:
        return sorted(self.table["product"].unique().tolist())

    def summary(self) -> dict:
        t = self.table
        occasions = t.groupby("occasion_id")["chosen"].sum()
        chosen = t[t["chosen"] == 1]
        return {
            "rows": int(len(t)),
            "occasions": int(occasions.size),
            "shoppers": int(t["shopper_id"].nunique()),
            "products": self.products,
            "no_purchase_share": float((occasions == 0).mean()),
            "shares": {k: float(v) for k, v in chosen["product"].value_counts(normalize=True).sort_index().items()},
            "mean_price": {k: float(v) for k, v in t.groupby("product")["price"].mean().items()},
            "display_rate": float(t["display"].mean()),
            "feature_rate": float(t["feature"].mean()),
            "source": self.provenance.source,
        }


@dataclass
class StockLog:
    """Stock log: one row per product and period (see :data:`sim_data.schema.STOCK`)."""

    table: pd.DataFrame
    provenance: Provenance = field(default_factory=lambda: Provenance("unknown"))

    @classmethod
    def from_frame(cls, df: pd.DataFrame, **kwargs) -> StockLog:
        return cls(table=validate(df, "stock"), **kwargs)

    def __len__(self) -> int:
        return len(self.table)

    def summary(self) -> dict:
        t = self.table
        return {
            "rows": int(len(t)),
            "products": int(t["product"].nunique()),
            "periods": int(t["period"].nunique()),
            "units_sold": float(t["sold"].sum()),
            "stockout_share": float((t["on_hand"] + t["received"] <= t["sold"]).mean()),
            "source": self.provenance.source,
        }
