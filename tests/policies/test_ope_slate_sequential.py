"""Slot-aware estimators (position IPS, slate IPS) and sequential estimators (PDIS, WIS, DR, WDR): exact values."""

from __future__ import annotations

import numpy as np
import pytest

from policies.ope.intervals import bootstrap_interval
from policies.ope.sequential import PerDecisionIS, SequentialDR, WeightedDR, WeightedIS
from policies.ope.slate import PositionIPS, SlateIPS
from policies.ope.validation import bandit_inputs, episode_inputs

# Two slates of two slots, 2 actions.  pi: slot 0 -> action 0 w.p. 0.75, slot 1 -> action 1 w.p. 0.5
DIST = np.array([[0.75, 0.5], [0.25, 0.5]])
SLATES = dict(actions=np.array([0, 1, 1, 1]), positions=np.array([0, 1, 0, 1]),
              rewards=np.array([1.0, 1.0, 1.0, 0.0]), propensities=np.array([0.5, 0.5, 0.5, 0.25]),
              action_dist=DIST, slate_ids=np.array([10, 10, 11, 11]))
# row weights: 0.75/0.5 = 1.5, 0.5/0.5 = 1, 0.25/0.5 = 0.5, 0.5/0.25 = 2


def test_position_ipw_overall_and_per_slot():
    inputs = bandit_inputs(**SLATES)
    est = PositionIPS()
    assert est.estimate(inputs) == pytest.approx((1.5 + 1.0 + 0.5 + 0.0) / 4)
    assert est.per_position(inputs) == pytest.approx({0: (1.5 + 0.5) / 2, 1: (1.0 + 0.0) / 2})


def test_slate_ipw_multiplies_the_slot_weights():
    inputs = bandit_inputs(**SLATES)
    # slate 10: W = 1.5 * 1 = 1.5, R = 2; slate 11: W = 0.5 * 2 = 1, R = 1; V = mean(W R) / 2 slots
    assert SlateIPS().estimate(inputs) == pytest.approx((1.5 * 2 + 1.0 * 1) / 2 / 2)
    assert SlateIPS(clip=1.2).estimate(inputs) == pytest.approx((1.2 * 2 + 1.0 * 1) / 2 / 2)
    assert SlateIPS().round_terms(inputs).n_rounds == 2


def test_slate_ipw_zero_weight_slate_and_missing_ids():
    inputs = bandit_inputs(**{**SLATES, "action_dist": np.array([[1.0, 0.5], [0.0, 0.5]])})
    # slate 11 shows action 1 in slot 0, which pi never does: W = 0
    assert SlateIPS().estimate(inputs) == pytest.approx((2.0 * 1.0 * 2) / 2 / 2)
    with pytest.raises(ValueError, match=r"slate-ipw needs slate_ids of shape \(n_rounds,\)"):
        SlateIPS().estimate(bandit_inputs(**{**SLATES, "slate_ids": None}))


# Two episodes, horizon 2, gamma 0.5.  ratios: ep0 [2, 2] -> rho [2, 4]; ep1 [1, 0.5] -> rho [1, 0.5]
EPISODES = dict(rewards=[[1.0, 2.0], [0.0, 1.0]], eval_probs=[[0.5, 1.0], [0.5, 0.5]],
                behavior_probs=[[0.25, 0.5], [0.5, 1.0]], q_pred=[[0.5, 1.0], [0.2, 0.4]],
                v_pred=[[0.6, 1.2], [0.3, 0.5]], gamma=0.5)


def test_pdis_exact():
    ep = episode_inputs(**EPISODES)
    assert PerDecisionIS().estimate(ep) == pytest.approx(((2 * 1 + 0.5 * 4 * 2) + (0 + 0.5 * 0.5 * 1)) / 2)


def test_weighted_is_exact():
    ep = episode_inputs(**EPISODES)
    assert WeightedIS().estimate(ep) == pytest.approx((2 * 1 + 1 * 0) / 3 + 0.5 * (4 * 2 + 0.5 * 1) / 4.5)


def test_dr_exact():
    ep = episode_inputs(**EPISODES)
    ep0 = (1.0 * 0.5 + 0.5 * 0.6) + 0.5 * (2.0 * 1.0 + 1.0 * 1.2)
    ep1 = (0.5 * -0.2 + 0.5 * 0.3) + 0.5 * (0.25 * 0.6 + 0.5 * 0.5)
    assert SequentialDR().estimate(ep) == pytest.approx(ep0 + ep1)


def test_wdr_exact():
    ep = episode_inputs(**EPISODES)
    w0, w1 = np.array([2, 1]) / 3, np.array([4, 0.5]) / 4.5
    ep0 = (w0[0] * 0.5 + 0.5 * 0.6) + 0.5 * (w1[0] * 1.0 + w0[0] * 1.2)
    ep1 = (w0[1] * -0.2 + 0.5 * 0.3) + 0.5 * (w1[1] * 0.6 + w0[1] * 0.5)
    assert WeightedDR().estimate(ep) == pytest.approx(ep0 + ep1)


def test_dr_with_zero_models_is_pdis_and_on_policy_is_the_mean_return():
    ep = episode_inputs(**{**EPISODES, "q_pred": np.zeros((2, 2)), "v_pred": np.zeros((2, 2))})
    assert SequentialDR().estimate(ep) == pytest.approx(PerDecisionIS().estimate(ep))
    same = episode_inputs(rewards=[[1.0, 2.0], [3.0, 0.0]], eval_probs=[[0.3, 0.6], [0.2, 0.9]],
                          behavior_probs=[[0.3, 0.6], [0.2, 0.9]], gamma=1.0)
    for est in (PerDecisionIS(), WeightedIS()):
        assert est.estimate(same) == pytest.approx(3.0)


def test_padding_after_an_episode_ends_is_ignored():
    ep = episode_inputs(rewards=[[1.0, 99.0], [1.0, 1.0]], eval_probs=[[0.5, 0.1], [0.5, 0.5]],
                        behavior_probs=[[0.5, 0.9], [0.5, 0.5]], mask=[[True, False], [True, True]])
    assert PerDecisionIS().estimate(ep) == pytest.approx((1.0 + 2.0) / 2)


def test_sequential_models_are_required_and_bootstrap_runs_over_episodes():
    ep = episode_inputs(**{k: v for k, v in EPISODES.items() if k not in ("q_pred", "v_pred")})
    with pytest.raises(ValueError, match=r"wdr needs q_pred and v_pred of shape \(n_episodes, horizon\)"):
        WeightedDR().estimate(ep)
    terms = PerDecisionIS().round_terms(ep)
    lo, hi = bootstrap_interval(terms, n_resamples=50, seed=0)
    assert lo <= terms.value() <= hi
