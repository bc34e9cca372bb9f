"""Choosing the click model's penalties by repeated, stratified K-fold cross-validation on the training log.

Every feature block (:data:`envs.models.click_design.BLOCKS`) has its own L2 penalty and the position effects
one more (on ``log kappa``, shrinking toward "no position effect"). A penalty is a prior precision: with few
clicks a large one shrinks a block to (nearly) nothing, which is the empirical-Bayes answer when the data
cannot tell its effects from noise.

Protocol (:func:`choose_penalties`):

* folds are drawn over the *logged rows* (a doubly robust fit's pseudo-rows stay with their row), stratified
  by click so that every fold holds its share of the rare clicks; ``n_repeats`` independent fold draws;
* the score of a penalty setting is the held-out weighted log-loss (the training loss without the penalty,
  summed over the test folds, divided by their total weight), averaged over the repeats;
* search: coordinate-wise hill climbing on each penalty's grid (start: the grid value nearest ``start``; move
  to a neighbouring grid value while it lowers the score; sweep over the penalties until none moves).

Only the training log is used; nothing here sees evaluation data.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import sparse

from envs.models.click_likelihood import ClickLikelihood

POSITION = "position"


def stratified_folds(strata: np.ndarray, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold id per unit, ``(n,)``: each stratum (e.g. click / no click) is shuffled and dealt round-robin."""
    folds = np.empty(strata.size, dtype=np.int64)
    offset = 0
    for value in np.unique(strata):
        idx = rng.permutation(np.flatnonzero(strata == value))
        folds[idx] = (np.arange(idx.size) + offset) % n_folds
        offset += idx.size
    return folds


class CrossValidation:
    """Held-out log-loss of the position-based model for penalty settings, on fixed fold draws.

    :param x: features of the (pseudo-)rows, sparse ``(m, F)``.
    :param positions: ``(m,)``; :param labels: ``(m,)``; :param weights: ``(m,)``.
    :param groups: the logged row of each (pseudo-)row, ``(m,)`` ints in ``[0, n)``.
    :param strata: per logged row, what folds are stratified by (the click), ``(n,)``.
    :param n_positions: slots; :param column_blocks: block name per feature column, ``(F,)``.
    :param n_folds: folds per draw; :param n_repeats: fold draws; :param seed: seed of the draws.
    :param likelihood: the likelihood class fit on each fold (:class:`ClickLikelihood`, or the torch one).
    """

    def __init__(self, x: sparse.csr_matrix, positions: np.ndarray, labels: np.ndarray, weights: np.ndarray,
                 groups: np.ndarray, strata: np.ndarray, n_positions: int, column_blocks: np.ndarray,
                 n_folds: int, n_repeats: int, seed: int, likelihood: Callable[..., ClickLikelihood] = ClickLikelihood):
        self.x, self.k, self.z, self.v = x, positions, labels, weights
        self.n_positions, self.column_blocks = n_positions, column_blocks
        self.likelihood = likelihood
        rng = np.random.default_rng(seed)
        self.splits = []
        for _ in range(n_repeats):
            fold_of_row = stratified_folds(strata, n_folds, rng)[groups]
            self.splits += [(np.flatnonzero(fold_of_row != f), np.flatnonzero(fold_of_row == f)) for f in range(n_folds)]
        self._warm: dict[int, np.ndarray] = {}
        self._problems: dict[int, tuple[ClickLikelihood, ClickLikelihood]] = {}
        self.cache: dict[tuple, float] = {}

    def _problem(self, rows: np.ndarray, likelihood: Callable[..., ClickLikelihood]) -> ClickLikelihood:
        return likelihood(self.x[rows], self.k[rows], self.z[rows], self.v[rows], self.n_positions,
                          np.zeros(self.x.shape[1]))

    def score(self, penalties: dict[str, float]) -> float:
        """Held-out weighted log-loss per unit weight (see the module docstring); cached per setting."""
        key = tuple(sorted(penalties.items()))
        if key not in self.cache:
            pen = np.array([penalties[b] for b in self.column_blocks], dtype=np.float64)
            loss = weight = 0.0
            for s, (train, test) in enumerate(self.splits):
                if s not in self._problems:     # the held-out side only scores: numpy, whatever fits
                    self._problems[s] = (self._problem(train, self.likelihood), self._problem(test, ClickLikelihood))
                fit_on, score_on = self._problems[s]
                fit_on.set_penalties(pen, penalties[POSITION])
                theta, _ = fit_on.fit(self._warm.get(s))
                self._warm[s] = theta
                loss += score_on.data_loss(theta)
                weight += float(score_on.v.sum())
            self.cache[key] = loss / weight
        return self.cache[key]


def choose_penalties(cv: CrossValidation, free: list[str], fixed: dict[str, float], grids: dict[str, list[float]],
                     start: float = 100.0, max_sweeps: int = 4,
                     progress: Callable[[str], None] | None = None) -> tuple[dict[str, float], list[dict]]:
    """Coordinate-wise hill climbing of the cross-validated log-loss over the ``free`` penalties.

    :param cv: the :class:`CrossValidation`.
    :param free: the penalties to choose (block names and/or ``"position"``).
    :param fixed: the values of the others.
    :param grids: candidate values per free penalty, increasing.
    :param start: each free penalty starts at its grid value nearest ``start`` (in log scale).
    :param max_sweeps: at most this many sweeps over ``free``.
    :param progress: optional callable receiving one line per setting scored.
    :return: the chosen penalties (free and fixed) and the trace ``[{"penalties": ..., "cv_logloss": ...}]``.
    """
    index = {b: int(np.argmin([abs(np.log10(max(g, 1e-3)) - np.log10(start)) for g in grids[b]])) for b in free}

    def setting(idx: dict[str, int]) -> dict[str, float]:
        return fixed | {b: float(grids[b][i]) for b, i in idx.items()}

    trace: list[dict] = []

    def score(idx: dict[str, int]) -> float:
        pen = setting(idx)
        known = tuple(sorted(pen.items())) in cv.cache
        value = cv.score(pen)
        if not known:
            trace.append({"penalties": pen, "cv_logloss": value})
            if progress is not None:
                progress("click model: penalties " + ", ".join(f"{k}={v:g}" for k, v in pen.items())
                         + f", cross-validated log-loss {value:.6f}")
        return value

    best = score(index)
    for _ in range(max_sweeps):
        moved = False
        for b in free:
            for direction in (-1, 1):
                while 0 <= index[b] + direction < len(grids[b]):
                    trial = index | {b: index[b] + direction}
                    value = score(trial)
                    if value >= best:
                        break
                    index, best, moved = trial, value, True
        if not moved:
            break
    return setting(index), trace
