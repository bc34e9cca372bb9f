"""Recovery of known truth on sim_data's synthetic click world (n = 100,000)."""

from __future__ import annotations

import numpy as np
import pytest

from policies.ope.run import evaluate_log
from policies.policy import LinearSoftmaxPolicy
from sim_data.synthetic import make_click_world


@pytest.mark.parametrize("logging", ["uniform", "softmax"])
def test_dr_within_3_and_ipw_within_5_percent(logging):
    log, truth = make_click_world(100_000, logging=logging, seed=0)
    pi = 0.7 * truth.best_action_dist() + 0.3 / log.n_actions
    true = truth.policy_value(pi)
    ev = evaluate_log(log, pi, estimators="ipw,dr,snipw,sndr", n_resamples=100, seed=0)
    assert abs(ev.result("dr").estimate - true) / true < 0.03
    assert abs(ev.result("ipw").estimate - true) / true < 0.05
    for r in ev.results:
        assert r.ci[0] <= r.estimate <= r.ci[1]
        assert r.lower_bound < r.estimate
    # an estimate is informative: the policy is better than the logger and the estimators see it
    assert ev.result("dr").lower_bound > log.rewards.mean()


def test_policy_object_is_evaluated_on_the_logs_contexts():
    log, truth = make_click_world(20_000, n_actions=4, n_positions=2, n_features=3, logging="uniform", seed=5)
    weights = np.repeat(truth.theta[:, :, None], 2, axis=2)
    policy = LinearSoftmaxPolicy(weights, bias=np.repeat(truth.item_bias[:, None], 2, axis=1), temperature=0.5)
    dist = policy.action_dist(log.table[log.context_columns])
    true = truth.policy_value(dist)
    ev = evaluate_log(log, policy, estimators="dr", n_resamples=50)
    assert abs(ev.result("dr").estimate - true) / true < 0.05
    assert ev.result("dr").ci[0] < true < ev.result("dr").ci[1]


def test_same_seed_same_numbers():
    log, truth = make_click_world(5_000, logging="softmax", seed=2)
    pi = truth.best_action_dist() * 0.5 + 0.5 / log.n_actions
    a = evaluate_log(log, pi, estimators="dr,switch-dr", n_resamples=30, seed=4).to_dict()
    b = evaluate_log(log, pi, estimators="dr,switch-dr", n_resamples=30, seed=4).to_dict()
    assert a == b
