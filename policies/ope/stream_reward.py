"""The reward model of the streaming engine: cross-fitted on a bounded sample, applied to every row batch by batch.

DM and DR need ``q(x, a, k)``. A log too large for memory cannot be cross-fitted row by row, so the model is fit on
a **bounded sample** of at most ``max_rows`` rows (default 100,000) with the default linear models of
:mod:`policies.ope.reward_model` (logistic regression for 0/1 rewards, ridge otherwise, same design, same
``interactions="auto"`` rule counted on the sample). Every row ``i`` of the log has a fold ``f(i)`` in
``0 .. n_folds - 1``; the fold-``f`` model is fitted on the sampled rows whose fold is not ``f``, and row ``i``
is predicted by model ``f(i)``. So no row is ever predicted by a model that saw it, in or out of the sample.

- **Whole log in the sample** (``n_rows <= max_rows``): the sample is the log, the folds are those of
  :func:`~policies.ope.reward_model.cross_fit_rewards` (``KFold(shuffle=True, random_state=seed)``) and the
  contexts are encoded and standardised on the whole log, so every prediction equals the in-memory path's.
- **Larger logs**: row ``i`` is sampled when ``u(i) < max_rows / n_rows`` and its fold is
  ``floor(n_folds * u'(i))``, with ``u`` and ``u'`` counter-based uniforms (:mod:`policies.ope.poisson`) keyed on
  the global row index: the sample and the folds do not depend on how the log is split.

The predictions needed per row are only those of its logged slot: :meth:`FoldRewardModel.slot_predictions` returns
``(n_rows, n_actions)``, never the ``(n_rows, n_actions, n_positions)`` array.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

from policies.ope.features import ContextEncoder
from policies.ope.poisson import uniforms
from policies.ope.reward_model import default_model, fit_one, standardisation, use_interactions

MAX_SAMPLE_ROWS = 100_000
_CHUNK_ROWS = 8192  # rows per cache-sized chunk of the predictions
_SAMPLE_STREAM, _FOLD_STREAM = 1, 2  # random streams of policies.ope.poisson (0 is the bootstrap's)


@dataclass(frozen=True)
class FoldAssignment:
    """Each global row's cross-fitting fold.

    :param n_folds: folds, >= 2.
    :param seed: seed of the assignment.
    :param table: ``(n_rows,)`` folds of the whole log (the in-memory KFold), or ``None`` for hashed folds.
    """

    n_folds: int
    seed: int
    table: np.ndarray | None = None

    @classmethod
    def kfold(cls, n_rows: int, n_folds: int, seed: int) -> FoldAssignment:
        """The folds of ``KFold(n_folds, shuffle=True, random_state=seed)`` on ``n_rows`` rows."""
        table = np.empty(n_rows, dtype=np.int64)
        for f, (_, test) in enumerate(KFold(n_splits=n_folds, shuffle=True, random_state=seed).split(
                np.zeros((n_rows, 1)))):
            table[test] = f
        return cls(n_folds, seed, table)

    def of(self, rows: np.ndarray) -> np.ndarray:
        """Folds of the global rows ``rows``, shape ``(len(rows),)``."""
        if self.table is not None:
            return self.table[rows]
        u = uniforms(self.seed, rows, _FOLD_STREAM)
        return np.minimum((u * self.n_folds).astype(np.int64), self.n_folds - 1)


def sample_mask(rows: np.ndarray, n_total: int, max_rows: int, seed: int) -> np.ndarray:
    """Whether each global row is in the fitting sample (all rows when ``n_total <= max_rows``)."""
    if n_total <= max_rows:
        return np.ones(len(rows), dtype=bool)
    u = uniforms(seed, rows, _SAMPLE_STREAM)
    return u < max_rows / n_total


@dataclass
class FoldRewardModel:
    """Per-fold linear reward models and the encoding they were fitted with.

    :param encoder: the context encoding (fitted on the sample).
    :param mean: ``(n_features,)`` standardisation mean; :param scale: its scale.
    :param folds: each row's fold.
    :param models: per fold ``(coef, intercept)`` of the linear score, or a float (a constant prediction).
    :param binary: 0/1 rewards (predictions are ``sigmoid(score)``).
    :param interactions: whether the design has context-by-action terms.
    :param train_rows: per fold, the global rows its model was fitted on (kept to check out-of-fold prediction).
    """

    encoder: ContextEncoder
    mean: np.ndarray
    scale: np.ndarray
    folds: FoldAssignment
    models: list
    binary: bool
    interactions: bool
    n_actions: int
    n_positions: int
    train_rows: list[np.ndarray]

    def features(self, contexts: pd.DataFrame) -> np.ndarray:
        """Encoded and standardised contexts, ``(n_rows, n_features)``."""
        x = self.encoder.transform(contexts)
        return x if x.shape[1] == 0 else (x - self.mean) / self.scale

    def slot_predictions(self, contexts: pd.DataFrame, positions: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``q(x_i, a, k_i)`` for every action in each row's logged slot, shape ``(n_rows, n_actions)``.

        :param contexts: the rows' context columns.
        :param positions: ``(n_rows,)`` logged slots.
        :param rows: ``(n_rows,)`` global row indices (they pick each row's fold).
        """
        x = self.features(contexts)
        fold = self.folds.of(rows)
        out = np.empty((len(positions), self.n_actions))
        f, a_n = x.shape[1], self.n_actions
        base = f + a_n + self.n_positions
        for m in range(self.folds.n_folds):
            sel = np.flatnonzero(fold == m)
            model = self.models[m]
            if isinstance(model, float):
                out[sel] = model
                continue
            coef, intercept = model
            inter = coef[base:].reshape(a_n, f).T if coef.size > base else None
            for lo in range(0, sel.size, _CHUNK_ROWS):
                part = sel[lo:lo + _CHUNK_ROWS]
                xs = x[part]
                score = ((xs @ coef[:f] + intercept)[:, None] + coef[f:f + a_n][None, :]) \
                    + coef[f + a_n:base][positions[part]][:, None]
                if inter is not None:
                    score += np.einsum("nf,fa->na", xs, inter)
                if self.binary:
                    with np.errstate(over="ignore"):
                        np.negative(score, out=score)
                        np.exp(score, out=score)
                        score += 1.0
                        np.reciprocal(score, out=score)
                out[part] = score
        return out


def fit_fold_reward_model(sample: pd.DataFrame, rows: np.ndarray, n_total: int, n_actions: int, n_positions: int,
                          *, n_folds: int = 3, seed: int = 0) -> FoldRewardModel:
    """Fit the per-fold models on a sample.

    :param sample: the sampled rows' ``action``, ``position``, ``reward`` and context columns, in global row order.
    :param rows: ``(n_sample,)`` their global row indices.
    :param n_total: rows in the whole log (``len(sample) == n_total`` selects the in-memory folds).
    :param n_folds: cross-fitting folds, >= 2.
    :param seed: seed of the folds (and the sample).
    :raises ValueError: for fewer than two folds or a fold without training rows.
    """
    if not isinstance(n_folds, int) or n_folds < 2:
        raise ValueError(f"n_folds: the streaming reward model needs at least 2 cross-fitting folds, got {n_folds!r}")
    n = len(sample)
    if n < n_folds:
        raise ValueError(f"reward model: the sample has {n} rows, fewer than n_folds={n_folds}")
    whole = n == n_total
    folds = FoldAssignment.kfold(n, n_folds, seed) if whole else FoldAssignment(n_folds, seed)
    encoder = ContextEncoder.fit(sample)
    x = encoder.transform(sample)
    mean, scale = standardisation(x) if x.shape[1] else (np.zeros(0), np.ones(0))
    x = x if x.shape[1] == 0 else (x - mean) / scale
    a = sample["action"].to_numpy(dtype=np.int64)
    k = sample["position"].to_numpy(dtype=np.int64)
    r = sample["reward"].to_numpy(dtype=np.float64)
    binary = bool(np.isin(r, (0.0, 1.0)).all())
    interactions = use_interactions("auto", n, x.shape[1], n_actions)
    model = default_model(binary)
    sample_fold = folds.of(np.arange(n)) if whole else folds.of(rows)
    models, train_rows = [], []
    for m in range(n_folds):
        train = np.flatnonzero(sample_fold != m)
        if train.size == 0:
            raise ValueError(f"reward model: fold {m} has no training rows in a sample of {n}; use more rows")
        fitted = fit_one(model, x[train], a[train], k[train], r[train], n_actions, n_positions, binary, interactions)
        models.append(fitted if isinstance(fitted, float) else
                      (np.ravel(fitted.coef_).astype(np.float64), float(np.ravel(fitted.intercept_)[0])))
        train_rows.append(np.asarray(rows)[train])
    return FoldRewardModel(encoder, mean, scale, folds, models, binary, interactions, n_actions, n_positions,
                           train_rows)
