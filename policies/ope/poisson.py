"""Counter-based Poisson(1) resampling weights: the same (seed, block, resample) always gives the same weight.

The streaming bootstrap (:mod:`policies.ope.stream_stats`) gives block ``g`` (rows ``g * block_rows`` to
``(g + 1) * block_rows - 1`` of the log, by global row index) the weight ``c[g, b] ~ Poisson(1)`` in resample
``b``. The weight is a pure function of ``(seed, g, b)``: 64 random bits ``z = splitmix64(key(seed) + (g * 2**20 + b) * golden)``
(SplitMix64's own output function at that counter) turned into a count by the inverse Poisson(1) CDF
(``c = #{j : z >= 2**64 * F(j)}``). So no generator state
travels between batches, files or workers: a block cut by a batch or file boundary gets the same weight in
each piece, and the resampled sums ``sum_g c[g, b] * S_g`` merge exactly however the log is split.
"""

from __future__ import annotations

import math

import numpy as np

MAX_RESAMPLES = 1 << 20
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
# Poisson(1) CDF up to k = 19 (P(K > 19) < 1e-17); u above the last entry maps to 20.
_CDF = np.cumsum([math.exp(-1.0) / math.factorial(k) for k in range(20)])
_THRESHOLDS = np.array([min(int(c * 2.0**64), 2**64 - 1) for c in _CDF], dtype=np.uint64)  # on the raw 64 bits


def splitmix64(z: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser (Steele, Lea & Flood 2014) on a uint64 array (wrapping arithmetic)."""
    z = np.asarray(z, dtype=np.uint64)
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def _key(seed: int, stream: int) -> np.uint64:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    k = splitmix64(np.array([int(seed) % (1 << 64)], dtype=np.uint64))
    return splitmix64(k ^ np.uint64(int(stream) * int(_GOLDEN) % (1 << 64)))[0]


def random_bits(seed: int, counters: np.ndarray, stream: int = 0) -> np.ndarray:
    """64 random bits keyed on ``(seed, stream, counter)``: SplitMix64's output ``mix(key + counter * golden)``.

    :param stream: separates independent uses of one seed (0: the bootstrap; see :mod:`policies.ope.stream_reward`).
    """
    return splitmix64(np.asarray(counters, dtype=np.uint64) * _GOLDEN + _key(seed, stream))


def uniforms(seed: int, counters: np.ndarray, stream: int = 0) -> np.ndarray:
    """Uniforms in [0, 1) keyed on ``(seed, stream, counter)``, same shape as ``counters`` (non-negative integers)."""
    return (random_bits(seed, counters, stream) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def poisson_weights(seed: int, blocks: np.ndarray, n_resamples: int) -> np.ndarray:
    """Poisson(1) weights of ``blocks`` in each resample, shape ``(len(blocks), n_resamples)``, float64.

    :param seed: the bootstrap seed.
    :param blocks: ``(n_blocks,)`` non-negative block ids.
    :param n_resamples: resamples, in ``[1, 2**20)``.
    """
    if not isinstance(n_resamples, int | np.integer) or not 1 <= n_resamples < MAX_RESAMPLES:
        raise ValueError(f"n_resamples: expected an integer in [1, {MAX_RESAMPLES}), got {n_resamples!r}")
    g = np.asarray(blocks, dtype=np.uint64)
    counters = (g[:, None] << np.uint64(20)) | np.arange(n_resamples, dtype=np.uint64)[None, :]
    return np.searchsorted(_THRESHOLDS, random_bits(seed, counters), side="right").astype(np.float64)
