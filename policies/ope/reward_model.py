"""Cross-fitted reward models: ``q(x, a, k)`` for every logged row, action and slot.

The rows are split into ``n_folds`` folds; each fold's predictions come from a model fitted on the other folds,
so no row is predicted by a model that saw it (cross-fitting, as DR's guarantees assume). The default models are
linear (logistic regression for 0/1 rewards, ridge otherwise) in ``[contexts, one-hot(action), one-hot(position)]``
plus, when the log is large enough (``interactions="auto"``: at least 50 rows per interaction coefficient), the
context-by-action interactions ``contexts (x) one-hot(action)`` (a sparse design). Predictions for all actions
and slots are computed by broadcasting the coefficients instead of building an ``n * n_actions * n_positions``
design matrix. Any scikit-learn estimator can be passed
instead (then predicted one (action, slot) pair at a time). A training fold whose rewards are all equal (e.g. no
click at all) gets a constant prediction instead of a crash.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse
from sklearn.base import clone, is_classifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold

INTERACTION_ROWS_PER_COEF = 50


def _design(x: np.ndarray, actions: np.ndarray, positions: np.ndarray, n_actions: int, n_positions: int,
            interactions: bool = False):
    """``[x, one-hot(a), one-hot(k)]`` (dense), plus ``x (x) one-hot(a)`` when ``interactions`` (sparse CSR)."""
    n, f = x.shape
    d = np.zeros((n, f + n_actions + n_positions))
    d[:, :f] = x
    d[np.arange(n), f + actions] = 1.0
    d[np.arange(n), f + n_actions + positions] = 1.0
    if not interactions or f == 0:
        return d
    rows = np.repeat(np.arange(n), f)
    cols = (actions[:, None] * f + np.arange(f)[None, :]).ravel()
    inter = sparse.csr_matrix((x.ravel(), (rows, cols)), shape=(n, f * n_actions))
    return sparse.hstack([sparse.csr_matrix(d), inter], format="csr")


def standardisation(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, scale)`` per column of ``x`` (scale 1 for constant columns): ``x_std = (x - mean) / scale``."""
    sd = x.std(axis=0)
    return x.mean(axis=0), np.where(sd > 0, sd, 1.0)


def _standardise(x: np.ndarray) -> np.ndarray:
    if x.shape[1] == 0:
        return x
    mean, scale = standardisation(x)
    return (x - mean) / scale


def use_interactions(interactions: bool | str, n_rows: int, n_features: int, n_actions: int) -> bool:
    """Resolve ``interactions="auto"``: at least 50 rows per context-by-action coefficient."""
    if interactions == "auto":
        return n_rows >= INTERACTION_ROWS_PER_COEF * n_features * n_actions
    if not isinstance(interactions, bool):
        raise ValueError(f"interactions: expected True, False or 'auto', got {interactions!r}")
    return interactions


def default_model(binary: bool) -> Any:
    """The default reward model: logistic regression for 0/1 rewards, ridge otherwise."""
    return LogisticRegression(C=1.0, max_iter=1000) if binary else Ridge(alpha=1.0)


def fit_one(model: Any, x: np.ndarray, a: np.ndarray, k: np.ndarray, y: np.ndarray, n_actions: int,
            n_positions: int, binary: bool, interactions: bool) -> Any:
    """A clone of ``model`` fitted on standardised ``x``, or the constant ``float(y[0])`` when all ``y`` are equal."""
    if np.all(y == y[0]):
        return float(y[0])
    return clone(model).fit(_design(x, a, k, n_actions, n_positions, interactions),
                            y.astype(np.int64) if binary else y)


def _predict_all(model: Any, x: np.ndarray, n_actions: int, n_positions: int, binary: bool,
                 interactions: bool) -> np.ndarray:
    """Predictions ``(n, n_actions, n_positions)`` for every action and slot."""
    n, f = x.shape
    base = f + n_actions + n_positions
    if isinstance(model, LogisticRegression | Ridge) and np.ravel(model.coef_).size == base + (
            f * n_actions if interactions and f else 0):
        coef = np.ravel(model.coef_)
        intercept = float(np.ravel(model.intercept_)[0])
        score = (x @ coef[:f] + intercept)[:, None, None] + coef[f:f + n_actions][None, :, None] \
            + coef[f + n_actions:base][None, None, :]
        if coef.size > base:
            score = score + (x @ coef[base:].reshape(n_actions, f).T)[:, :, None]
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-score)) if binary else score
    out = np.empty((n, n_actions, n_positions))
    for a in range(n_actions):
        for k in range(n_positions):
            d = _design(x, np.full(n, a), np.full(n, k), n_actions, n_positions, interactions)
            out[:, a, k] = model.predict_proba(d)[:, 1] if binary else model.predict(d)
    return out


def cross_fit_rewards(contexts: np.ndarray, actions: np.ndarray, positions: np.ndarray, rewards: np.ndarray,
                      n_actions: int, n_positions: int, *, n_folds: int = 3, model: Any = None,
                      interactions: bool | str = "auto", seed: int = 0) -> np.ndarray:
    """Cross-fitted reward predictions.

    :param contexts: ``(n_rounds, n_features)`` numeric features (may have 0 columns); standardised here.
    :param actions: ``(n_rounds,)`` logged actions.
    :param positions: ``(n_rounds,)`` logged slots.
    :param rewards: ``(n_rounds,)`` rewards; 0/1 rewards get a classifier.
    :param n_actions: size of the action space.
    :param n_positions: number of slots.
    :param n_folds: number of folds (>= 2; 1 fits and predicts on all rows, for tiny logs only).
    :param model: a scikit-learn estimator (a classifier for 0/1 rewards) or ``None`` for the linear default.
    :param interactions: add context-by-action features: ``True``, ``False`` or ``"auto"`` (when the log has at
        least 50 rows per interaction coefficient).
    :param seed: seed of the fold split.
    :return: ``(n_rounds, n_actions, n_positions)`` predicted rewards.
    """
    x = np.asarray(contexts, dtype=np.float64)
    n = x.shape[0]
    if x.ndim != 2:
        raise ValueError(f"contexts: expected shape (n_rounds, n_features), got {x.shape}")
    for name, arr in (("actions", actions), ("positions", positions), ("rewards", rewards)):
        if np.shape(arr) != (n,):
            raise ValueError(f"{name}: expected shape (n_rounds,) = ({n},), got {np.shape(arr)}")
    if not isinstance(n_folds, int) or n_folds < 1 or n_folds > n:
        raise ValueError(f"n_folds: expected an integer in [1, n_rounds={n}], got {n_folds!r}")
    a = np.asarray(actions, dtype=np.int64)
    k = np.asarray(positions, dtype=np.int64)
    r = np.asarray(rewards, dtype=np.float64)
    binary = bool(np.isin(r, (0.0, 1.0)).all())
    x = _standardise(x)
    interactions = use_interactions(interactions, n, x.shape[1], n_actions)
    if model is None:
        model = default_model(binary)
    elif binary and not is_classifier(model):
        binary = False  # a regressor on 0/1 rewards predicts them directly
    out = np.empty((n, n_actions, n_positions))
    splits = [(np.arange(n), np.arange(n))] if n_folds == 1 else \
        KFold(n_splits=n_folds, shuffle=True, random_state=seed).split(x)
    for train, test in splits:
        fitted = fit_one(model, x[train], a[train], k[train], r[train], n_actions, n_positions, binary, interactions)
        out[test] = fitted if isinstance(fitted, float) else \
            _predict_all(fitted, x[test], n_actions, n_positions, binary, interactions)
    return out
