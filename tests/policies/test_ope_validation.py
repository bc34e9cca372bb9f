"""Estimator inputs are validated in one place; errors name the array and its expected shape."""

from __future__ import annotations

import numpy as np
import pytest

from policies.ope.validation import bandit_inputs, episode_inputs

GOOD = dict(actions=np.array([0, 1, 1]), rewards=np.array([1.0, 0.0, 1.0]), propensities=np.array([0.5, 0.5, 0.5]),
            action_dist=np.full((3, 2, 1), 0.5))


def call(**changes):
    return bandit_inputs(**{**GOOD, **changes})


@pytest.mark.parametrize("changes, message", [
    ({"rewards": np.array([1.0, 0.0])}, r"rewards: expected shape \(n_rounds,\) = \(3,\)"),
    ({"actions": np.array([[0, 1, 1]])}, r"actions: expected a 1-d array of shape \(n_rounds,\)"),
    ({"actions": np.array([0.5, 1, 1])}, "actions: expected integers"),
    ({"propensities": np.array([0.5, 0.0, 0.5])}, r"propensities: expected values in \(0, 1\]"),
    ({"rewards": np.array([1.0, np.nan, 1.0])}, "rewards: expected finite numbers"),
    ({"action_dist": np.full((4, 2, 1), 0.5)}, r"action_dist: expected shape \(n_rounds, n_actions, n_positions\) "
                                               "with n_rounds=3"),
    ({"action_dist": np.full((3, 2), 0.5)}, "action_dist: each"),
    ({"action_dist": np.full((3, 2, 1, 1), 0.5)}, r"action_dist: expected shape \(n_actions, n_positions\) or"),
    ({"action_dist": np.full((3, 2, 1), 0.6)}, r"action_dist: each action_dist\[i, :, k\] must sum to 1"),
    ({"actions": np.array([0, 2, 1])}, r"actions: expected ids in \[0, 2\)"),
    ({"positions": np.array([0, 1, 0])}, r"positions: expected ids in \[0, 1\)"),
    ({"reward_pred": np.zeros((3, 2))}, r"reward_pred: expected shape \(n_rounds, n_actions, n_positions\) = "
                                        r"\(3, 2, 1\)"),
    ({"reward_pred": np.full((3, 2, 1), np.inf)}, "reward_pred: expected finite numbers"),
    ({"actions": np.array([], dtype=int), "rewards": np.array([]), "propensities": np.array([])},
     "actions: expected at least one round"),
])
def test_errors_name_the_array_and_shape(changes, message):
    with pytest.raises(ValueError, match=message):
        call(**changes)


def test_valid_inputs_pass():
    inputs = call()
    assert (inputs.n_rounds, inputs.n_actions, inputs.n_positions) == (3, 2, 1)
    np.testing.assert_allclose(inputs.weights(), [1.0, 1.0, 1.0])


def test_episode_inputs_neutralise_padding_and_check_shapes():
    ep = episode_inputs(rewards=[[1.0, 5.0]], eval_probs=[[0.5, 0.0]], behavior_probs=[[0.5, 0.0]],
                        mask=[[True, False]])
    np.testing.assert_allclose(ep.rewards, [[1.0, 0.0]])
    np.testing.assert_allclose(ep.cumulative_ratios(), [[1.0, 1.0]])
    with pytest.raises(ValueError, match=r"eval_probs: expected shape \(n_episodes, horizon\) = \(1, 2\)"):
        episode_inputs(rewards=[[1.0, 5.0]], eval_probs=[[0.5]], behavior_probs=[[0.5, 0.5]])
    with pytest.raises(ValueError, match="mask: each episode's real steps must be a prefix"):
        episode_inputs(rewards=[[1.0, 5.0]], eval_probs=[[0.5, 0.5]], behavior_probs=[[0.5, 0.5]],
                       mask=[[False, True]])
    with pytest.raises(ValueError, match=r"behavior_probs: expected probabilities in \(0, 1\]"):
        episode_inputs(rewards=[[1.0]], eval_probs=[[0.5]], behavior_probs=[[0.0]])
    with pytest.raises(ValueError, match="gamma"):
        episode_inputs(rewards=[[1.0]], eval_probs=[[0.5]], behavior_probs=[[0.5]], gamma=1.5)
