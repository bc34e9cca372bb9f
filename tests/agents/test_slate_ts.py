"""The per-segment Thompson-sampling slate bandit on a tiny instance with a known best item per segment."""

from __future__ import annotations

import numpy as np

from agents.slate_ts import SegmentThompsonSlates, segment_of


def test_learns_each_segment_s_best_items_and_places_them_by_slot_order():
    rng = np.random.default_rng(0)
    ctr = np.array([[0.05, 0.30, 0.10, 0.02], [0.25, 0.01, 0.03, 0.12]])  # (segments, items)
    learner = SegmentThompsonSlates(n_runs=3, n_contexts=2, n_items=4)
    for _ in range(3000):
        contexts = rng.integers(0, 2, size=3)
        items = learner.explore(contexts, rng)
        learner.update(contexts, items, (rng.random(3) < ctr[contexts, items]).astype(float))
    slates = learner.greedy_slates(n_positions=2, slot_order=np.array([1, 0]))  # slot 1 is the better slot
    assert slates.shape == (3, 2, 2)
    np.testing.assert_array_equal(slates[:, 0, 1], [1, 1, 1])  # segment 0's best item in the best slot
    np.testing.assert_array_equal(slates[:, 1, 1], [0, 0, 0])
    np.testing.assert_array_equal(slates[:, 1, 0], [3, 3, 3])  # its second best next


def test_segment_of_matches_feature_rows():
    table = np.eye(3)
    np.testing.assert_array_equal(segment_of(np.array([[0, 0, 1.0], [1.0, 0, 0]]), table), [2, 0])
