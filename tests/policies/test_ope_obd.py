"""The Open Bandit Dataset experiment on one campaign, and the BTS action distribution."""

from __future__ import annotations

import numpy as np
import pytest

from policies.ope.obd import bts_action_dist, obd_experiment


def test_bts_action_dist_ranks_by_beta_draws():
    dist = bts_action_dist(np.array([1000.0, 1.0, 1.0]), np.array([1.0, 1000.0, 1000.0]), n_positions=2,
                           n_samples=20_000, seed=0)
    np.testing.assert_allclose(dist.sum(axis=0), 1.0)
    np.testing.assert_allclose(dist[:, 0], [1.0, 0.0, 0.0])
    assert dist[1, 1] == pytest.approx(0.5, abs=0.02)  # two identical items share slot 1
    np.testing.assert_array_equal(dist, bts_action_dist(np.array([1000.0, 1.0, 1.0]), np.array([1.0, 1000.0, 1000.0]),
                                                        n_positions=2, n_samples=20_000, seed=0))


def test_bts_action_dist_rejects_bad_priors():
    with pytest.raises(ValueError, match="alpha, beta"):
        bts_action_dist(np.array([1.0, -1.0]), np.array([1.0, 1.0]))


def test_obd_men_both_directions_are_finite_and_intervals_contain_estimates():
    records = obd_experiment("men", estimators="ipw,snipw,dr", n_resamples=100, seed=0, n_samples=20_000)
    assert {(r["evaluated"], r["logs"]) for r in records} == {("bts", "random"), ("random", "bts")}
    assert len(records) == 6
    for r in records:
        assert np.isfinite([r["estimate"], r["ci"][0], r["ci"][1], r["lower_bound"], r["relative_error"]]).all()
        assert r["ci"][0] <= r["estimate"] <= r["ci"][1]
        assert 0 < r["truth"] < 0.05  # a click-through rate
        assert r["estimate"] > 0
