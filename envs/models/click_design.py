"""The click model's design matrix: sparse features of (context, item) pairs, grouped into penalty blocks.

Blocks, in column order (a block is present only when the log has what it needs):

* ``item``: one-hot of the item shown (``n_actions`` columns): each item's own effect, shrunk toward the
  effect its features predict;
* ``context``: one-hots of the string context columns (categories seen in training, unseen ones all-zero) and
  the standardised numeric context columns (:func:`envs.models.click_features.context_matrix`);
* ``affinity``: ``log1p`` of the shown item's user-item affinity and ``log1p`` of the user's total affinity over
  all items, when the log has one ``context_affinity_<a>`` column per item (OBD: past clicks of this user on
  each item, so the total measures how often the user clicks at all);
* ``item_features``: the log's ``action_context`` (one-hots of string item features, standardised numerics),
  so that items with few impressions borrow strength from similar ones;
* ``interactions``: item one-hot x ``context`` columns, ``n_actions * n_context`` columns (optional).

Each block gets its own L2 penalty (:mod:`envs.models.click_penalty` chooses them by cross-validation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from envs.models import click_features as cf

BLOCKS = ("item", "context", "affinity", "item_features", "interactions")
AFFINITY_FEATURES = ("affinity_shown", "affinity_total")


@dataclass
class ClickDesign:
    """What the features are made of, learned from the training log (JSON-ready through :meth:`to_dict`).

    :param context: the context and item-feature specification (:class:`~envs.models.click_features.ContextSpec`;
        its own ``affinity`` field is unused here).
    :param affinity: whether the ``affinity`` block is present.
    """

    context: cf.ContextSpec
    affinity: bool

    @property
    def n_actions(self) -> int:
        return self.context.n_actions

    @property
    def n_context(self) -> int:
        return self.context.n_context

    def block_sizes(self) -> dict[str, int]:
        """Columns per block, in column order (blocks of size 0 are absent)."""
        c = self.context
        sizes = {"item": c.n_actions, "context": c.n_context, "affinity": len(AFFINITY_FEATURES) if self.affinity else 0,
                 "item_features": len(c.item_feature_names or []),
                 "interactions": c.n_actions * c.n_context if c.interactions else 0}
        return {k: v for k, v in sizes.items() if v}

    @property
    def n_features(self) -> int:
        return sum(self.block_sizes().values())

    def column_blocks(self) -> np.ndarray:
        """The block name of every column, shape ``(n_features,)``."""
        return np.array([b for b, size in self.block_sizes().items() for _ in range(size)], dtype=object)

    def feature_names(self) -> list[str]:
        c = self.context
        ctx = [f"{col}={v}" for col, cats in c.categorical.items() for v in cats] + list(c.numeric)
        names = [f"item={a}" for a in range(c.n_actions)] + ctx
        names += list(AFFINITY_FEATURES) if self.affinity else []
        names += list(c.item_feature_names or [])
        if c.interactions:
            names += [f"item={a}*{x}" for a in range(c.n_actions) for x in ctx]
        return names

    def to_dict(self) -> dict:
        return {"context": self.context.to_dict(), "affinity": self.affinity}

    @classmethod
    def from_dict(cls, d: dict) -> ClickDesign:
        return cls(cf.ContextSpec.from_dict(d["context"]), bool(d["affinity"]))


@dataclass
class RowFeatures:
    """Per-row inputs of the design: context columns ``(n, n_context)`` and log1p affinities ``(n, n_actions)``."""

    context: sparse.csr_matrix
    affinity: np.ndarray | None

    def __len__(self) -> int:
        return self.context.shape[0]

    def take(self, idx: np.ndarray) -> RowFeatures:
        """The rows ``idx``."""
        return RowFeatures(self.context[idx], None if self.affinity is None else self.affinity[idx])


def _affinity_columns(table: pd.DataFrame, n_actions: int) -> list[str] | None:
    cols = [f"{cf.AFFINITY_PREFIX}{a}" for a in range(n_actions)]
    return cols if all(c in table.columns for c in cols) else None


def learn_design(table: pd.DataFrame, n_actions: int, interactions: bool,
                 action_context: pd.DataFrame | None = None) -> ClickDesign:
    """The design of a training log: which context columns, item features and affinities become features."""
    spec = cf.learn_spec(table, n_actions, interactions, action_context=action_context)
    cols = _affinity_columns(table, n_actions)
    has_affinity = cols is not None and bool((table[cols].to_numpy(dtype=np.float64) != 0).any())
    return ClickDesign(spec, has_affinity)


def row_features(design: ClickDesign, table: pd.DataFrame) -> RowFeatures:
    """The per-row inputs of ``table``'s contexts (checks the columns the design needs are there)."""
    ctx = cf.context_matrix(design.context, table)
    aff = None
    if design.affinity:
        cols = _affinity_columns(table, design.n_actions)
        if cols is None:
            raise ValueError(f"the model uses {cf.AFFINITY_PREFIX}<item> columns for every item "
                             f"(0..{design.n_actions - 1}); the log lacks some")
        raw = table[cols].to_numpy(dtype=np.float64)
        if (raw < 0).any():
            raise ValueError(f"columns {cf.AFFINITY_PREFIX}<item>: expected non-negative affinities, found negatives")
        aff = np.log1p(raw)
    return RowFeatures(ctx, aff)


def design_matrix(design: ClickDesign, rows: RowFeatures, actions: np.ndarray,
                  row_index: np.ndarray | None = None) -> sparse.csr_matrix:
    """Features of the pairs ``(context row row_index[i], item actions[i])``, shape ``(M, n_features)``.

    :param rows: :func:`row_features` of the contexts.
    :param actions: item per pair, shape ``(M,)``.
    :param row_index: context row per pair, shape ``(M,)`` (default ``0..M-1``).
    """
    actions = np.asarray(actions, dtype=np.int64)
    m = actions.size
    row_index = np.arange(m) if row_index is None else np.asarray(row_index, dtype=np.int64)
    a = design.n_actions
    if m and (actions.min() < 0 or actions.max() >= a):
        raise ValueError(f"column 'action': expected ids in [0, {a}), found {actions.min()}..{actions.max()}")
    c = rows.context[row_index]
    blocks = [sparse.csr_matrix((np.ones(m), (np.arange(m), actions)), shape=(m, a)), c]
    if design.affinity:
        shown = rows.affinity[row_index, actions]
        total = np.log1p(np.expm1(rows.affinity).sum(axis=1))[row_index]
        blocks.append(sparse.csr_matrix(np.stack([shown, total], axis=1)))
    if design.context.item_matrix is not None:
        blocks.append(sparse.csr_matrix(np.asarray(design.context.item_matrix))[actions])
    if design.context.interactions and design.n_context:
        coo = c.tocoo()
        cols = actions[coo.row] * design.n_context + coo.col
        blocks.append(sparse.csr_matrix((coo.data, (coo.row, cols)), shape=(m, a * design.n_context)))
    return sparse.hstack(blocks, format="csr")


def all_item_logits(design: ClickDesign, rows: RowFeatures, beta: np.ndarray) -> np.ndarray:
    """``x(row i, item a) @ beta`` for every row and every item, shape ``(n, n_actions)``, block by block without
    building the ``(n * n_actions, n_features)`` design (the same numbers as :func:`design_matrix`)."""
    a, c = design.n_actions, design.n_context
    sizes = design.block_sizes()
    parts, start = {}, 0
    for block, size in sizes.items():
        parts[block], start = beta[start:start + size], start + size
    out = np.broadcast_to(parts["item"], (len(rows), a)).copy()
    if "context" in parts:
        out += np.asarray(rows.context @ parts["context"])[:, None]
    if "affinity" in parts:
        total = np.log1p(np.expm1(rows.affinity).sum(axis=1))
        out += parts["affinity"][0] * rows.affinity + parts["affinity"][1] * total[:, None]
    if "item_features" in parts:
        out += (np.asarray(design.context.item_matrix, dtype=np.float64) @ parts["item_features"])[None, :]
    if "interactions" in parts:
        out += np.asarray(rows.context @ parts["interactions"].reshape(a, c).T)
    return out
