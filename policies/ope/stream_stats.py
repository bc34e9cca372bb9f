"""Mergeable sufficient statistics of an estimator's round terms and of the importance weights.

Every bandit estimator is ``V = mean(direct) + sum(weighted) / sum(normaliser)`` (:class:`~policies.ope.base.RoundTerms`).
:class:`TermStats` keeps, for the rows seen so far (``z_i = (direct_i, weighted_i, normaliser_i)``):

- the count ``n`` and the sums ``sum z`` (the point estimate);
- the mean and co-moment matrix ``C = sum (z - mean)(z - mean)^T`` of ``z``, merged with Chan, Golub & LeVeque's
  pairwise update, so the delta-method standard error ``sd(psi) / sqrt(n)`` of the pseudo-values
  ``psi = a . z + c`` (:meth:`RoundTerms.influence`) is ``sqrt(a^T C a / (n - 1) / n)`` without any row kept;
- the range of ``psi = direct + weighted`` for unnormalised estimators (the empirical Bernstein bound);
- the streaming Poisson bootstrap: for resample ``b`` the totals ``T[b] = sum_g c[g, b] * S_g`` of the block sums
  ``S_g = (sum direct, sum weighted, sum normaliser, rows)`` with the counter-based weights of
  :mod:`policies.ope.poisson`; a replicate is ``V*_b = T[b,0] / T[b,3] + T[b,1] / T[b,2]``.

All of it is a sum over rows (or blocks), so :meth:`TermStats.merge` of two pieces equals the statistics of their
union, however the log is cut into batches, files or workers (up to floating-point rounding of the sums).
:class:`WeightStats` does the same for the overlap diagnostics of :mod:`policies.ope.diagnostics`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from policies.ope.base import RoundTerms
from policies.ope.diagnostics import overlap_warnings
from policies.ope.poisson import poisson_weights


@dataclass(frozen=True)
class BlockLayout:
    """Which bootstrap blocks a batch's rows fall in.

    :param blocks: ``(n_blocks,)`` block ids of the batch (consecutive).
    :param starts: ``(n_blocks,)`` offset in the batch of each block's first row.
    :param weights: ``(n_blocks, n_resamples)`` Poisson(1) weights of those blocks.
    """

    blocks: np.ndarray
    starts: np.ndarray
    weights: np.ndarray

    @classmethod
    def for_rows(cls, start: int, n_rows: int, block_rows: int, n_resamples: int, seed: int) -> BlockLayout:
        """The layout of global rows ``start .. start + n_rows - 1`` with blocks of ``block_rows`` rows."""
        first, last = start // block_rows, (start + n_rows - 1) // block_rows
        blocks = np.arange(first, last + 1, dtype=np.int64)
        starts = np.maximum(blocks * block_rows - start, 0)
        return cls(blocks, starts, poisson_weights(seed, blocks, n_resamples))


def _moments(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = z.mean(axis=0)
    dev = z - mean
    return mean, dev.T @ dev


@dataclass
class TermStats:
    """Sufficient statistics of one estimator's :class:`RoundTerms` (see the module for the formulas).

    :param normalised: whether the estimator is self-normalised (its ``normaliser`` is not all ones).
    :param n_resamples: bootstrap resamples.
    """

    normalised: bool
    n_resamples: int
    n: int = 0
    sums: np.ndarray = field(default_factory=lambda: np.zeros(3))
    mean: np.ndarray = field(default_factory=lambda: np.zeros(3))
    comoment: np.ndarray = field(default_factory=lambda: np.zeros((3, 3)))
    psi_range: tuple[float, float] = (np.inf, -np.inf)
    boot: np.ndarray | None = None

    def __post_init__(self):
        if self.boot is None:
            self.boot = np.zeros((self.n_resamples, 4))

    def update(self, terms: RoundTerms, layout: BlockLayout) -> None:
        """Add one batch's terms; ``layout`` places its rows in bootstrap blocks."""
        n = terms.n_rounds
        z = np.empty((n, 4))  # direct, weighted, normaliser, 1
        z[:, 0], z[:, 1], z[:, 2], z[:, 3] = terms.direct, terms.weighted, terms.denominators(), 1.0
        piece = TermStats(self.normalised, self.n_resamples, n, np.array([terms.direct.sum(), terms.weighted.sum(),
                                                                           z[:, 2].sum()]))
        piece.mean, piece.comoment = _moments(z[:, :3])
        if not self.normalised:
            psi = terms.direct + terms.weighted
            piece.psi_range = (float(psi.min()), float(psi.max()))
        piece.boot = layout.weights.T @ np.add.reduceat(z, layout.starts, axis=0)
        self.merge(piece)

    def merge(self, other: TermStats) -> TermStats:
        """Add ``other``'s rows to these statistics (in place; returns self)."""
        if other.n == 0:
            return self
        if self.n == 0:
            self.n, self.sums, self.mean = other.n, other.sums.copy(), other.mean.copy()
            self.comoment, self.psi_range = other.comoment.copy(), other.psi_range
            self.boot = self.boot + other.boot
            return self
        n = self.n + other.n
        delta = other.mean - self.mean
        self.comoment = self.comoment + other.comoment + np.outer(delta, delta) * (self.n * other.n / n)
        self.mean = self.mean + delta * (other.n / n)
        self.sums = self.sums + other.sums
        self.psi_range = (min(self.psi_range[0], other.psi_range[0]), max(self.psi_range[1], other.psi_range[1]))
        self.boot = self.boot + other.boot
        self.n = n
        return self

    def _ratio(self) -> float:
        den = float(self.sums[2])
        return float(self.sums[1]) / den if den > 0 else 0.0

    def value(self) -> float:
        """The point estimate ``sum(direct) / n + sum(weighted) / sum(normaliser)``."""
        return float(self.sums[0]) / self.n + self._ratio()

    def _psi(self) -> tuple[np.ndarray, float]:
        """``(a, c)`` with pseudo-values ``psi_i = a . z_i + c``."""
        if not self.normalised:
            return np.array([1.0, 1.0, 0.0]), 0.0
        mean_den = float(self.sums[2]) / self.n
        if mean_den <= 0:
            return np.array([1.0, 0.0, 0.0]), 0.0
        r = self._ratio()
        return np.array([1.0, 1.0 / mean_den, -r / mean_den]), r

    def psi_mean_sd(self) -> tuple[float, float]:
        """Mean and sample standard deviation (ddof 1) of the pseudo-values."""
        a, c = self._psi()
        var = float(a @ self.comoment @ a) / (self.n - 1) if self.n > 1 else float("nan")
        return float(a @ self.mean + c), float(np.sqrt(max(var, 0.0)))

    def std_error(self) -> float:
        """Delta-method standard error, as :meth:`RoundTerms.std_error`."""
        return self.psi_mean_sd()[1] / np.sqrt(self.n) if self.n > 1 else float("inf")

    def lower_bound(self, method: str, confidence: float) -> float:
        """One-sided lower bound: ``t`` (Student) or ``bernstein`` (unnormalised estimators only)."""
        if not 0 < confidence < 1:
            raise ValueError(f"confidence: expected a level in (0, 1), e.g. 0.95, got {confidence!r}")
        if self.n < 2:
            return float("-inf")
        mean, sd = self.psi_mean_sd()
        if method == "t":
            return float(mean - stats.t.ppf(confidence, self.n - 1) * sd / np.sqrt(self.n))
        if method != "bernstein":
            raise ValueError(f"lower-bound method: expected one of ['bernstein', 't'], got {method!r}")
        if self.normalised:
            raise ValueError("lower-bound bernstein: the streaming engine has it for unnormalised estimators only "
                             "(the range of a self-normalised estimator's pseudo-values needs every row); use t")
        a, b = self.psi_range
        log_term = np.log(2.0 / (1.0 - confidence))
        return float(mean - np.sqrt(2.0 * sd * sd * log_term / self.n) - 7.0 * (b - a) * log_term / (3.0 * (self.n - 1)))

    def bootstrap_values(self) -> np.ndarray:
        """Replicates ``V*_b``, shape ``(n_resamples,)``."""
        t = self.boot
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(t[:, 2] > 0, t[:, 1] / t[:, 2], 0.0)
            return np.where(t[:, 3] > 0, t[:, 0] / t[:, 3], np.nan) + ratio

    def interval(self, confidence: float) -> tuple[float, float]:
        """Percentile interval of the streaming bootstrap."""
        if not 0 < confidence < 1:
            raise ValueError(f"confidence: expected a level in (0, 1), e.g. 0.95, got {confidence!r}")
        alpha = 1.0 - confidence
        lo, hi = np.nanquantile(self.bootstrap_values(), [alpha / 2, 1 - alpha / 2])
        return float(lo), float(hi)


@dataclass
class WeightStats:
    """Mergeable overlap diagnostics of the (unclipped) importance weights ``w_i`` and ``pi(a_i | x_i, k_i)``."""

    n: int = 0
    total: float = 0.0
    squares: float = 0.0
    max_weight: float = -np.inf
    never_taken: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def update(self, weights: np.ndarray, eval_probs: np.ndarray) -> None:
        """Add one batch: ``weights`` and ``eval_probs`` of shape ``(n_rows,)``."""
        w = np.asarray(weights, dtype=np.float64)
        mean = float(w.mean())
        dev = w - mean
        self.merge(WeightStats(w.size, float(w.sum()), float(np.dot(w, w)), float(w.max()),
                               int(np.count_nonzero(eval_probs == 0)), mean, float(np.dot(dev, dev))))

    def merge(self, other: WeightStats) -> WeightStats:
        """Add ``other``'s rows (in place; returns self)."""
        if other.n == 0:
            return self
        n = self.n + other.n
        delta = other.mean - self.mean
        self.m2 += other.m2 + delta * delta * self.n * other.n / n
        self.mean += delta * other.n / n
        self.n, self.total, self.squares = n, self.total + other.total, self.squares + other.squares
        self.max_weight = max(self.max_weight, other.max_weight)
        self.never_taken += other.never_taken
        return self

    def diagnostics(self) -> dict[str, Any]:
        """The dict of :func:`policies.ope.diagnostics.weight_diagnostics`, warnings included."""
        if self.n == 0:
            raise ValueError("weights: expected at least one row, got none")
        ess = self.total * self.total / self.squares if self.squares > 0 else 0.0
        diag = {"n_rounds": self.n, "ess": ess, "ess_share": ess / self.n, "max_weight": self.max_weight,
                "max_weight_share": self.max_weight / self.total if self.total > 0 else 0.0,
                "mean_weight": self.total / self.n, "never_taken_share": self.never_taken / self.n}
        se_mean = float(np.sqrt(self.m2 / (self.n - 1)) / np.sqrt(self.n)) if self.n > 1 else float("inf")
        diag["warnings"] = overlap_warnings(diag, se_mean)
        return diag
