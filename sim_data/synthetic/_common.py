"""Small helpers shared by the synthetic worlds: argument checks, seeded generators, categorical draws."""

from __future__ import annotations

import numbers

import numpy as np


def check_int(name: str, value: object, minimum: int = 1) -> int:
    """``value`` as an ``int`` that is at least ``minimum``; raises a ``ValueError``/``TypeError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def check_float(name: str, value: object, *, lower: float | None = None, upper: float | None = None,
                lower_open: bool = False, upper_open: bool = False) -> float:
    """``value`` as a finite ``float`` within the given bounds; raises naming ``name`` and the allowed range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(float(value)):
        raise TypeError(f"{name} must be a finite number, got {value!r}")
    v = float(value)
    lo_bad = lower is not None and (v <= lower if lower_open else v < lower)
    hi_bad = upper is not None and (v >= upper if upper_open else v > upper)
    if lo_bad or hi_bad:
        lo = "-inf" if lower is None else f"{lower:g}"
        hi = "inf" if upper is None else f"{upper:g}"
        interval = f"{'(' if lower_open else '['}{lo}, {hi}{')' if upper_open else ']'}"
        raise ValueError(f"{name} must be in {interval}, got {v:g}")
    return v


def make_rng(seed: object) -> np.random.Generator:
    """The one seeded generator a world draws everything from (``seed`` must be a non-negative integer)."""
    return np.random.default_rng(check_int("seed", seed, minimum=0))


def sample_categorical(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One draw per row of ``probs`` (shape ``(n, k)``, rows summing to 1) by inverse CDF; returns shape ``(n,)``.

    A category with probability 0 is never drawn.
    """
    cdf = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0]) * cdf[:, -1]
    return np.minimum((cdf <= u[:, None]).sum(axis=1), probs.shape[1] - 1).astype(np.int64)


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax along ``axis``."""
    z = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, stable for large ``|x|``."""
    out = np.empty_like(x, dtype=np.float64)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out
