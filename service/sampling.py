"""Reproducible randomness for decisions: everything random about a decision is a function of its ``event_id``.

* :func:`traffic_bucket` places a unit (the request's ``unit_id``, else its ``event_id``) in ``[0, 100)`` for the
  decision point's traffic split; a unit keeps its arm as long as the split does not change.
* :func:`rng_for_event` is the seeded numpy Generator the actions are drawn with, so an audit can replay a
  logged decision from its ``event_id`` and the logged distribution (:func:`replay_actions`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from policies.vw_policy import sample_from_pmf

_SAMPLE_SALT = b"retailrl.sample:"
_TRAFFIC_SALT = b"retailrl.traffic:"


def _hash64(salt: bytes, text: str) -> int:
    return int.from_bytes(hashlib.sha256(salt + text.encode("utf-8")).digest()[:8], "big")


def rng_for_event(event_id: str) -> np.random.Generator:
    """The Generator a decision's actions are drawn with: seeded by the SHA-256 of its ``event_id``."""
    if not isinstance(event_id, str) or not event_id:
        raise ValueError(f"event_id: expected a non-empty string, found {event_id!r}")
    return np.random.default_rng(_hash64(_SAMPLE_SALT, event_id))


def traffic_bucket(decision_point: str, unit: str) -> float:
    """Where ``unit`` falls in ``[0, 100)`` for ``decision_point``'s traffic split (uniform, sticky)."""
    return _hash64(_TRAFFIC_SALT, f"{decision_point}\0{unit}") / 2.0**64 * 100.0


def choose_arm(percents: Sequence[float], bucket: float) -> int:
    """The index of the arm whose share of ``[0, 100)`` holds ``bucket`` (arms in the registry's order).

    :param percents: each arm's traffic share; they sum to 100.
    """
    edge = 0.0
    for i, p in enumerate(percents):
        edge += p
        if bucket < edge:
            return i
    return len(percents) - 1


def sample_slots(pmfs: Sequence[np.ndarray], rng: np.random.Generator) -> list[int]:
    """Draw one index per slot, independently, from each slot's validated pmf ``(n_candidates,)``."""
    return [sample_from_pmf(p, rng) for p in pmfs]


def replay_actions(event_id: str, pmfs: Sequence[Sequence[float]]) -> list[int]:
    """The indices :func:`sample_slots` drew for a logged decision, from its ``event_id`` and distributions."""
    return sample_slots([np.asarray(p, dtype=np.float64) for p in pmfs], rng_for_event(event_id))
