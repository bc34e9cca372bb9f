"""Cross-fitted reward models and estimated propensities."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.tree import DecisionTreeRegressor

from policies.ope.propensity import estimate_propensities
from policies.ope.reward_model import cross_fit_rewards
from policies.ope.run import evaluate_log, log_contexts
from sim_data.logs import BanditLog
from sim_data.synthetic import make_click_world


@pytest.fixture(scope="module")
def world():
    return make_click_world(6000, n_actions=5, n_positions=2, n_features=3, logging="softmax", seed=11)


def fit(log, **kw):
    return cross_fit_rewards(log_contexts(log), log.actions, log.positions, log.rewards, log.n_actions,
                             log.n_positions, **kw)


def test_reward_model_recovers_click_probabilities(world):
    log, truth = world
    q = fit(log, n_folds=3)
    assert q.shape == (6000, 5, 2)
    assert ((q >= 0) & (q <= 1)).all()
    constant = np.abs(log.rewards.mean() - truth.click_prob()).mean()  # about 0.16
    err = np.abs(q - truth.click_prob()).mean()
    assert err < 0.35 * constant
    additive = fit(log, n_folds=3, interactions=False)  # no context-by-action terms: the world has them
    assert err < np.abs(additive - truth.click_prob()).mean()


def test_cross_fitting_never_uses_a_rows_own_reward(world):
    log, _ = world
    x = log_contexts(log)
    r = log.rewards.copy()
    q1 = cross_fit_rewards(x, log.actions, log.positions, r, 5, 2, n_folds=3, seed=4)
    r[17] = 1.0 - r[17]
    q2 = cross_fit_rewards(x, log.actions, log.positions, r, 5, 2, n_folds=3, seed=4)
    np.testing.assert_array_equal(q1[17], q2[17])
    assert not np.array_equal(q1, q2)


def test_a_fold_with_one_reward_class_does_not_crash():
    rng = np.random.default_rng(0)
    n = 30
    rewards = np.zeros(n)
    rewards[4] = 1.0
    x, a, k = rng.normal(size=(n, 2)), rng.integers(0, 3, n), np.zeros(n, dtype=int)
    q = cross_fit_rewards(x, a, k, rewards, 3, 1, n_folds=3, seed=0)
    assert np.isfinite(q).all()
    assert (q[4] == 0.0).all()  # row 4's training folds hold only zeros: a constant prediction
    np.testing.assert_array_equal(cross_fit_rewards(x, a, k, np.zeros(n), 3, 1, n_folds=3), 0.0)


def test_any_sklearn_model_can_be_the_reward_model(world):
    log, truth = world
    q = fit(log, n_folds=2, model=DecisionTreeRegressor(max_depth=6, min_samples_leaf=50, random_state=0))
    assert q.shape == (6000, 5, 2)
    constant = np.abs(log.rewards.mean() - truth.click_prob()).mean()
    assert np.abs(q - truth.click_prob()).mean() < 0.75 * constant


def test_reward_model_input_errors():
    with pytest.raises(ValueError, match=r"rewards: expected shape \(n_rounds,\) = \(3,\)"):
        cross_fit_rewards(np.zeros((3, 1)), np.zeros(3, int), np.zeros(3, int), np.zeros(2), 2, 1)
    with pytest.raises(ValueError, match="n_folds"):
        cross_fit_rewards(np.zeros((3, 1)), np.zeros(3, int), np.zeros(3, int), np.zeros(3), 2, 1, n_folds=5)


def test_estimated_propensities_track_the_true_ones(world):
    log, _ = world
    est = estimate_propensities(log_contexts(log), log.actions, log.positions, 5, 2, n_folds=3, seed=0)
    true = log.propensities
    assert est.propensities.shape == true.shape
    assert np.corrcoef(est.propensities, true)[0, 1] > 0.9
    assert np.median(np.abs(est.propensities / true - 1)) < 0.15
    assert "estimated with a calibrated classifier" in est.notes[0]


def test_unknown_propensities_are_estimated_and_flagged(world):
    log, truth = world
    table = log.table.copy()
    table["propensity"] = np.nan
    unknown = BanditLog.from_frame(table, n_actions=5, n_positions=2)
    pi = 0.7 * truth.best_action_dist() + 0.3 / 5
    ev = evaluate_log(unknown, pi, estimators="ipw,snipw", n_resamples=50)
    known = evaluate_log(log, pi, estimators="ipw,snipw", n_resamples=50)
    assert ev.propensity_source == "estimated"
    assert ev.result("snipw").diagnostics["propensity_source"] == "estimated"
    assert any("estimated with a calibrated classifier" in w for w in ev.result("ipw").diagnostics["warnings"])
    assert ev.result("snipw").estimate == pytest.approx(known.result("snipw").estimate, rel=0.1)
