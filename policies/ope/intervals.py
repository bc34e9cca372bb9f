"""Uncertainty for an estimate: a vectorised percentile bootstrap and high-confidence lower bounds.

All three work from an estimator's :class:`~policies.ope.base.RoundTerms`, so no estimator is re-run.

**Bootstrap.** A resample draws rounds with replacement and recomputes
``V* = sum(c * direct) / sum(c) + sum(c * weighted) / sum(c * normaliser)`` from the multinomial counts ``c``
(``np.random.Generator.integers``, then ``np.bincount``, one resample at a time). Self-normalised estimators are therefore
re-normalised in every resample. When ``n_rounds * n_resamples`` exceeds ``max_draws`` (50 million by default),
consecutive rounds are first summed into equal blocks (``ceil(n_rounds * n_resamples / max_draws)`` rows each)
and whole blocks are resampled: a non-overlapping block bootstrap (Carlstein 1986). Because every statistic here
is a ratio of sums, resampling block sums keeps the bootstrap distribution's mean, variance and skewness to
first order (cumulants of sums add), and it is also safe under serial correlation in time-ordered logs.
At 10 million rows and 200 resamples the blocks hold 40 rows each (250,000 blocks).

**Lower bounds** (one-sided, level ``confidence``) on the per-round pseudo-values ``psi`` of
:meth:`RoundTerms.influence`: Student's t, ``mean - t_{n-1, confidence} * sd / sqrt(n)``; and the empirical
Bernstein bound of Maurer & Pontil (2009, Thm 4),
``mean - sqrt(2 var ln(2/delta) / n) - 7 (b - a) ln(2/delta) / (3 (n - 1))`` with ``delta = 1 - confidence``
and ``[a, b]`` the range of ``psi`` (the observed range unless ``value_range`` is given; with a known range it
is a finite-sample guarantee for the unnormalised estimators, otherwise an approximation).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from policies.ope.base import RoundTerms

MAX_DRAWS = 50_000_000


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence: expected a level in (0, 1), e.g. 0.95, got {confidence!r}")


def _block_sums(terms: RoundTerms, block: int) -> np.ndarray:
    """Columns (direct, weighted, normaliser, count) summed over consecutive blocks: shape ``(n_blocks, 4)``."""
    n = terms.n_rounds
    starts = np.arange(0, n, block)
    out = np.empty((starts.size, 4))
    out[:, 0] = np.add.reduceat(terms.direct, starts)
    out[:, 1] = np.add.reduceat(terms.weighted, starts)
    out[:, 3] = np.diff(np.append(starts, n))
    out[:, 2] = out[:, 3] if terms.normaliser is None else np.add.reduceat(terms.normaliser, starts)
    return out


def bootstrap_values(terms: RoundTerms, n_resamples: int = 200, seed: int = 0,
                     max_draws: int = MAX_DRAWS) -> np.ndarray:
    """Bootstrap replicates of the estimate, shape ``(n_resamples,)``; same seed, same numbers.

    :param terms: the estimator's per-round terms.
    :param n_resamples: number of resamples, >= 1.
    :param seed: seed of the numpy Generator.
    :param max_draws: largest number of random draws before rounds are grouped into blocks (see the module).
    """
    if not isinstance(n_resamples, int | np.integer) or n_resamples < 1:
        raise ValueError(f"n_resamples: expected a positive integer, got {n_resamples!r}")
    rng = np.random.default_rng(seed)
    n = terms.n_rounds
    block = max(1, -(-n * n_resamples // max_draws))
    sums = _block_sums(terms, block)
    g = sums.shape[0]
    totals = np.empty((n_resamples, 4))
    for b in range(n_resamples):  # one resample at a time: its counts array stays in cache for bincount
        counts = np.bincount(rng.integers(0, g, size=g), minlength=g)
        totals[b] = counts.astype(np.float64) @ sums
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(totals[:, 2] > 0, totals[:, 1] / totals[:, 2], 0.0)
    return totals[:, 0] / totals[:, 3] + ratio


def bootstrap_interval(terms: RoundTerms, confidence: float = 0.95, n_resamples: int = 200, seed: int = 0,
                       max_draws: int = MAX_DRAWS) -> tuple[float, float]:
    """Percentile bootstrap interval ``(lo, hi)`` at level ``confidence``; see :func:`bootstrap_values`."""
    _check_confidence(confidence)
    values = bootstrap_values(terms, n_resamples, seed, max_draws)
    alpha = 1.0 - confidence
    lo, hi = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def t_lower_bound(terms: RoundTerms, confidence: float = 0.95) -> float:
    """One-sided Student-t lower bound on the policy value (level ``confidence``)."""
    _check_confidence(confidence)
    psi = terms.influence()
    n = psi.size
    if n < 2:
        return float("-inf")
    return float(psi.mean() - stats.t.ppf(confidence, n - 1) * psi.std(ddof=1) / np.sqrt(n))


def bernstein_lower_bound(terms: RoundTerms, confidence: float = 0.95,
                          value_range: tuple[float, float] | None = None) -> float:
    """One-sided empirical-Bernstein lower bound (Maurer & Pontil 2009) on the policy value.

    :param value_range: known ``(a, b)`` bounds of the per-round values; the observed range when omitted.
    """
    _check_confidence(confidence)
    psi = terms.influence()
    n = psi.size
    if n < 2:
        return float("-inf")
    a, b = (float(psi.min()), float(psi.max())) if value_range is None else map(float, value_range)
    if b < a:
        raise ValueError(f"value_range: expected (low, high) with low <= high, got {value_range}")
    log_term = np.log(2.0 / (1.0 - confidence))
    return float(psi.mean() - np.sqrt(2.0 * psi.var(ddof=1) * log_term / n) - 7.0 * (b - a) * log_term / (3.0 * (n - 1)))


LOWER_BOUNDS = {"t": t_lower_bound, "bernstein": bernstein_lower_bound}


def lower_bound(terms: RoundTerms, method: str = "t", confidence: float = 0.95) -> float:
    """The lower bound named ``method`` (``t`` or ``bernstein``)."""
    if method not in LOWER_BOUNDS:
        raise ValueError(f"lower-bound method: expected one of {sorted(LOWER_BOUNDS)}, got {method!r}")
    return LOWER_BOUNDS[method](terms, confidence)
