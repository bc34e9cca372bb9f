"""Unknown propensities: estimate ``p(a | x, k)`` of the logging policy with a calibrated classifier.

A multinomial logistic regression on ``[contexts, one-hot(position)]`` predicts the logged action; it is wrapped in
scikit-learn's ``CalibratedClassifierCV`` (sigmoid or isotonic) and cross-fitted over ``n_folds`` so a row's
propensity never comes from a model that saw it. Estimated propensities are floored at ``floor`` (weights stay
bounded) and every result computed from them is flagged (``propensity_source = "estimated"``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold


@dataclass
class PropensityEstimate:
    """Estimated propensities and how they were obtained.

    :param propensities: ``(n_rounds,)`` estimated ``p(a_i | x_i, k_i)``, in ``[floor, 1]``.
    :param method: ``sigmoid`` or ``isotonic`` calibration, or ``uncalibrated`` where some action was too rare.
    :param n_folds: number of cross-fitting folds.
    :param notes: plain-language remarks for the report.
    """

    propensities: np.ndarray
    method: str
    n_folds: int
    notes: list[str] = field(default_factory=list)


def estimate_propensities(contexts: np.ndarray, actions: np.ndarray, positions: np.ndarray, n_actions: int,
                          n_positions: int, *, method: str = "sigmoid", n_folds: int = 3, calibration_folds: int = 3,
                          floor: float = 1e-3, seed: int = 0) -> PropensityEstimate:
    """Cross-fitted, calibrated estimates of the logging propensities.

    :param contexts: ``(n_rounds, n_features)`` numeric features (0 columns allowed: then per-slot frequencies).
    :param actions: ``(n_rounds,)`` logged actions.
    :param positions: ``(n_rounds,)`` logged slots.
    :param n_actions: size of the action space.
    :param n_positions: number of slots.
    :param method: ``sigmoid`` or ``isotonic``.
    :param n_folds: outer cross-fitting folds (>= 2).
    :param calibration_folds: inner folds of ``CalibratedClassifierCV``.
    :param floor: smallest propensity returned, in (0, 1).
    :param seed: seed of the fold split.
    """
    if method not in ("sigmoid", "isotonic"):
        raise ValueError(f"method: expected 'sigmoid' or 'isotonic', got {method!r}")
    if not 0 < floor < 1:
        raise ValueError(f"floor: expected a number in (0, 1), got {floor!r}")
    x = np.asarray(contexts, dtype=np.float64)
    n = x.shape[0]
    a = np.asarray(actions, dtype=np.int64)
    k = np.asarray(positions, dtype=np.int64)
    if a.shape != (n,) or k.shape != (n,):
        raise ValueError(f"actions and positions: expected shape (n_rounds,) = ({n},), got {a.shape} and {k.shape}")
    if not isinstance(n_folds, int) or not 2 <= n_folds <= n:
        raise ValueError(f"n_folds: expected an integer in [2, n_rounds], got {n_folds!r}")
    sd = x.std(axis=0) if x.shape[1] else np.ones(0)
    x = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0) if x.shape[1] else x
    design = np.hstack([x, np.eye(n_positions)[k]])
    out = np.empty(n)
    used = set()
    for train, test in KFold(n_splits=n_folds, shuffle=True, random_state=seed).split(design):
        y = a[train]
        classes, counts = np.unique(y, return_counts=True)
        unseen = ~np.isin(a[test], classes)
        if classes.size == 1:
            out[test] = np.where(unseen, floor, 1.0)
            used.add("constant")
            continue
        base = LogisticRegression(max_iter=1000)
        if counts.min() >= calibration_folds:
            clf = CalibratedClassifierCV(base, method=method, cv=calibration_folds)
            used.add(method)
        else:
            clf = base
            used.add("uncalibrated")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(design[train], y)
        proba = clf.predict_proba(design[test])
        col = np.searchsorted(clf.classes_, a[test])
        col = np.minimum(col, clf.classes_.size - 1)
        picked = proba[np.arange(test.size), col]
        out[test] = np.where(unseen, floor, picked)
    notes = ["Propensities were not logged: they were estimated with a calibrated classifier "
             f"({', '.join(sorted(used))}, {n_folds}-fold cross-fitted). Estimates inherit its errors."]
    if "uncalibrated" in used:
        notes.append(f"Some actions were logged fewer than {calibration_folds} times in a fold, so their model "
                     "was not calibrated.")
    return PropensityEstimate(propensities=np.clip(out, floor, 1.0), method="+".join(sorted(used)),
                              n_folds=n_folds, notes=notes)
