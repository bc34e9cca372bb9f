"""Hand-computed small cases for every bandit estimator (exact values)."""

from __future__ import annotations

import numpy as np
import pytest

from policies.ope.bandit import (
    IPS,
    SNIPS,
    DirectMethod,
    DoublyRobust,
    DROptimisticShrinkage,
    SelfNormalizedDR,
    SwitchDR,
)
from policies.ope.estimators import make_estimator, parse_estimators
from policies.ope.slope import SlopeTuned
from policies.ope.validation import bandit_inputs

# 4 rounds, 2 actions, 1 slot.  w = pi(a_i)/p_i = [0.8/0.5, 0.4/0.5, 0.5/0.25, 1.0/0.5] = [1.6, 0.8, 2.0, 2.0]
ACTIONS = np.array([0, 1, 0, 1])
REWARDS = np.array([1.0, 0.0, 0.0, 1.0])
PROPENSITIES = np.array([0.5, 0.5, 0.25, 0.5])
PI = np.array([[0.8, 0.2], [0.6, 0.4], [0.5, 0.5], [0.0, 1.0]])[:, :, None]
Q = np.array([[0.5, 0.2], [0.4, 0.1], [0.3, 0.6], [0.2, 0.7]])[:, :, None]
# q_pi = [0.44, 0.28, 0.45, 0.70] (mean 0.4675); q at the logged action = [0.5, 0.1, 0.3, 0.7]
# residuals r - q = [0.5, -0.1, -0.3, 0.3]; w * residuals = [0.8, -0.08, -0.6, 0.6] (sum 0.72)


@pytest.fixture
def inputs():
    return bandit_inputs(actions=ACTIONS, rewards=REWARDS, propensities=PROPENSITIES, action_dist=PI, reward_pred=Q)


@pytest.mark.parametrize("estimator, expected", [
    (DirectMethod(), 1.87 / 4),
    (IPS(), (1.6 + 2.0) / 4),
    (IPS(clip=1.8), (1.6 + 1.8) / 4),
    (SNIPS(), 3.6 / 6.4),
    (SNIPS(clip=1.8), 3.4 / 6.0),
    (DoublyRobust(), 0.4675 + 0.72 / 4),
    (DoublyRobust(clip=1.8), 0.4675 + (0.8 - 0.08 - 1.8 * 0.3 + 1.8 * 0.3) / 4),
    (SelfNormalizedDR(), 0.4675 + 0.72 / 6.4),
    (SwitchDR(threshold=1.0), 0.4675 - 0.08 / 4),
    (SwitchDR(threshold=0.0), 0.4675),
    (SwitchDR(), 0.4675 + 0.72 / 4),
    (DROptimisticShrinkage(shrinkage=2.0),
     0.4675 + (3.2 / 4.56 * 0.5 - 1.6 / 2.64 * 0.1 - 4 / 6 * 0.3 + 4 / 6 * 0.3) / 4),
    (DROptimisticShrinkage(shrinkage=0.0), 0.4675),
    (DROptimisticShrinkage(), 0.4675 + 0.72 / 4),
])
def test_hand_computed_values(inputs, estimator, expected):
    assert estimator.estimate(inputs) == pytest.approx(expected, abs=1e-12)


def test_round_terms_mean_is_the_estimate_for_unnormalised(inputs):
    terms = DoublyRobust().round_terms(inputs)
    np.testing.assert_allclose(terms.direct + terms.weighted, [0.44 + 0.8, 0.28 - 0.08, 0.45 - 0.6, 0.7 + 0.6])
    assert terms.influence().mean() == pytest.approx(terms.value())


def test_self_normalised_influence_averages_to_the_estimate(inputs):
    terms = SNIPS().round_terms(inputs)
    assert terms.influence().mean() == pytest.approx(3.6 / 6.4)


def test_two_dimensional_action_dist_broadcasts():
    dist = np.array([[0.25], [0.75]])
    inputs = bandit_inputs(actions=ACTIONS, rewards=REWARDS, propensities=PROPENSITIES, action_dist=dist)
    assert inputs.action_dist.shape == (4, 2, 1)
    # w = [0.25/0.5, 0.75/0.5, 0.25/0.25, 0.75/0.5] = [0.5, 1.5, 1, 1.5]; w r = [0.5, 0, 0, 1.5]
    assert IPS().estimate(inputs) == pytest.approx(2.0 / 4)


def test_slot_aware_weights_use_the_logged_slot():
    dist = np.array([[1.0, 0.0], [0.0, 1.0]])  # action 0 in slot 0, action 1 in slot 1
    inputs = bandit_inputs(actions=np.array([0, 0, 1]), positions=np.array([0, 1, 1]), rewards=np.array([1.0, 1.0, 1.0]),
                           propensities=np.array([0.5, 0.5, 0.5]), action_dist=dist)
    np.testing.assert_allclose(inputs.weights(), [2.0, 0.0, 2.0])
    assert IPS().estimate(inputs) == pytest.approx(4.0 / 3)


def test_model_based_estimators_say_they_need_reward_pred():
    inputs = bandit_inputs(actions=ACTIONS, rewards=REWARDS, propensities=PROPENSITIES, action_dist=PI)
    for est in (DirectMethod(), DoublyRobust(), SelfNormalizedDR(), SwitchDR(), DROptimisticShrinkage()):
        with pytest.raises(ValueError, match="needs reward_pred of shape"):
            est.estimate(inputs)


def test_hyper_parameters_are_validated():
    with pytest.raises(ValueError, match="clip"):
        IPS(clip=0.0)
    with pytest.raises(ValueError, match="threshold"):
        SwitchDR(threshold=-1.0)
    with pytest.raises(ValueError, match="shrinkage"):
        DROptimisticShrinkage(shrinkage=-2.0)


def test_estimators_by_name(inputs):
    assert make_estimator("ipw:clip=1.8").estimate(inputs) == pytest.approx(0.85)
    assert make_estimator("switch-dr:threshold=1").estimate(inputs) == pytest.approx(0.4475)
    assert isinstance(make_estimator("dr-os"), SlopeTuned)
    assert [e.name for e in parse_estimators("ipw, snipw,dm")] == ["ipw", "snipw", "dm"]
    with pytest.raises(ValueError, match="unknown estimator 'nope'"):
        make_estimator("nope")
    with pytest.raises(ValueError, match="ipw:clip=VALUE"):
        make_estimator("ipw:threshold=3")
    with pytest.raises(ValueError, match="must be a number"):
        make_estimator("ipw:clip=big")
