"""A click-model-free slate bandit: Thompson sampling per (context segment, item), for simulators whose contexts
are a finite set of segments (the AdAllocation env). Used by the ``ads_bandit_obd`` benchmark."""

from __future__ import annotations

import numpy as np


def segment_of(features: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Row index of each observation's context features in ``table`` (exact match of the feature rows)."""
    dist = np.abs(features[:, None, :] - table[None, :, :]).sum(axis=2)
    return np.argmin(dist, axis=1)


class SegmentThompsonSlates:
    """Thompson sampling per (context segment, item), one learner per run; a click-model-free slate bandit.

    Exploration serves one item in the slot with the largest position bias (the env reports clicks per slate,
    not per slot, so a single-item slate keeps the feedback per item); the learned policy fills every slot with
    the items of highest posterior mean, the best in the first slot.

    :param n_runs: independent learners.
    :param n_contexts: context segments.
    :param n_items: catalogue size.
    """

    def __init__(self, n_runs: int, n_contexts: int, n_items: int):
        self.a = np.ones((n_runs, n_contexts, n_items))
        self.b = np.ones((n_runs, n_contexts, n_items))
        self.rows = np.arange(n_runs)

    def explore(self, contexts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        theta = rng.beta(self.a[self.rows, contexts], self.b[self.rows, contexts])
        return np.argmax(theta, axis=1)

    def update(self, contexts: np.ndarray, items: np.ndarray, clicks: np.ndarray) -> None:
        self.a[self.rows, contexts, items] += clicks
        self.b[self.rows, contexts, items] += 1 - clicks

    def greedy_slates(self, n_positions: int, slot_order: np.ndarray) -> np.ndarray:
        """``(n_runs, n_contexts, K)`` slates: top-K items by posterior mean, placed by ``slot_order``."""
        mean = self.a / (self.a + self.b)
        top = np.argsort(-mean, axis=2, kind="stable")[:, :, :n_positions]
        slates = np.empty_like(top)
        slates[:, :, slot_order] = top
        return slates
