"""The numpy MLP policy: forward pass and action distributions computed by hand, saving, validation."""

from __future__ import annotations

import numpy as np
import pytest

from policies.mlp_policy import MLPPolicy
from policies.policy import Policy, check_action_dist

# one hidden tanh layer of 2 units on 2 features
W0 = np.array([[1.0, 0.0], [0.0, 2.0]])
B0 = np.array([0.0, -1.0])
X = np.array([[0.5, 1.0], [-1.0, 0.25]])
H = np.tanh(X @ W0 + B0)


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_categorical_multidiscrete_with_unequal_slots():
    w1 = np.array([[1.0, -1.0, 0.5, 2.0, 0.0], [0.0, 1.0, 1.0, -1.0, 3.0]])
    b1 = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    policy = MLPPolicy([W0, w1], [B0, b1], activation="tanh", nvec=[3, 2])
    out = H @ w1 + b1
    dist = check_action_dist(policy.action_dist(X))
    assert dist.shape == (2, 3, 2) and (policy.n_actions, policy.n_positions) == (3, 2)
    np.testing.assert_allclose(dist[:, :, 0], softmax(out[:, :3]))
    np.testing.assert_allclose(dist[:, :2, 1], softmax(out[:, 3:]))
    assert (dist[:, 2, 1] == 0).all()  # slot 2 has only 2 choices
    np.testing.assert_array_equal(policy.predict(X), np.stack([out[:, :3].argmax(1), out[:, 3:].argmax(1)], axis=1))


def test_masks_remove_actions_and_must_leave_one():
    w1 = np.eye(2)
    policy = MLPPolicy([w1], [np.zeros(2)], nvec=[2])
    x = np.array([[3.0, 0.0]])
    np.testing.assert_allclose(policy.action_dist(x, action_masks=np.array([[False, True]]))[0, :, 0], [0.0, 1.0])
    assert policy.predict(x).tolist() == [0]
    with pytest.raises(ValueError, match="every slot needs at least one allowed action"):
        policy.action_dist(x, action_masks=np.array([[False, False]]))
    with pytest.raises(ValueError, match=r"action_masks: expected shape \(1, 2\)"):
        policy.action_dist(x, action_masks=np.ones((1, 3), dtype=bool))


def test_greedy_head_puts_all_mass_on_the_argmax_first_on_ties():
    policy = MLPPolicy([np.eye(3)], [np.zeros(3)], head="greedy", nvec=[3])
    dist = policy.action_dist(np.array([[0.0, 2.0, 1.0], [1.0, 1.0, 0.0]]))[:, :, 0]
    np.testing.assert_array_equal(dist, [[0, 1, 0], [1, 0, 0]])


def test_box_mean_tanh_is_rescaled_and_served_on_the_nearest_grid_point():
    w1 = np.array([[1.0], [0.5]])
    policy = MLPPolicy([W0, w1], [B0, np.zeros(1)], activation="relu", head="box_mean", output_activation="tanh",
                       action_low=[10.0], action_high=[20.0], action_grid=[[10.0, 12.5, 15.0, 17.5, 20.0]])
    hidden = np.maximum(X @ W0 + B0, 0.0)
    expected = 10.0 + 0.5 * (np.tanh(hidden @ w1) + 1.0) * 10.0
    np.testing.assert_allclose(policy.mean_action(X), expected)
    dist = policy.action_dist(X)
    nearest = np.abs(expected - np.array([10.0, 12.5, 15.0, 17.5, 20.0])).argmin(axis=1)
    np.testing.assert_array_equal(dist[:, :, 0].argmax(axis=1), nearest)
    assert dist.sum() == 2.0


def test_box_mean_identity_output_is_clipped_to_the_bounds():
    policy = MLPPolicy([np.array([[5.0]])], [np.zeros(1)], head="box_mean", action_low=[-1.0], action_high=[1.0])
    np.testing.assert_allclose(policy.mean_action(np.array([[1.0], [0.1], [-1.0]])), [[1.0], [0.5], [-1.0]])
    assert policy.action_grid.shape == (1, 11)


def test_vecnormalize_statistics_normalise_and_clip():
    policy = MLPPolicy([np.eye(2)], [np.zeros(2)], nvec=[2], obs_mean=[1.0, 0.0], obs_var=[4.0, 1.0], clip_obs=2.0,
                       obs_epsilon=1e-8)
    x = np.array([[3.0, 5.0]])
    np.testing.assert_allclose(policy.preprocess(x), [[2.0 / np.sqrt(4.0 + 1e-8), 2.0]])


def test_save_and_load_round_trip(tmp_path):
    policy = MLPPolicy([W0, np.ones((2, 4))], [B0, np.arange(4.0)], nvec=[2, 2], obs_mean=[0.1, 0.2],
                       obs_var=[1.0, 2.0], feature_names=["context_a", "context_b"])
    policy.save(tmp_path / "p")
    loaded = Policy.load(tmp_path / "p")
    assert isinstance(loaded, MLPPolicy) and loaded.feature_names == ["context_a", "context_b"]
    np.testing.assert_array_equal(loaded.action_dist(X), policy.action_dist(X))
    import pandas as pd

    frame = pd.DataFrame({"context_b": X[:, 1], "other": 0, "context_a": X[:, 0]})
    np.testing.assert_array_equal(loaded.action_dist(frame), policy.action_dist(X))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"weights": [np.ones((2, 3))], "biases": [np.ones(2)], "nvec": [3]}, r"biases\[0\]: expected length 3"),
    ({"weights": [np.ones((2, 3)), np.ones((2, 2))], "biases": [np.ones(3), np.ones(2)], "nvec": [2]},
     r"weights\[1\]: expected 3 rows"),
    ({"weights": [np.ones((2, 3))], "biases": [np.ones(3)], "nvec": [2]}, "the network has 3 outputs but nvec"),
    ({"weights": [np.ones((2, 3))], "biases": [np.ones(3)]}, "nvec: a categorical head needs"),
    ({"weights": [np.ones((2, 3))], "biases": [np.ones(3)], "nvec": [3], "head": "beta"}, "head: expected one of"),
    ({"weights": [np.ones((2, 3))], "biases": [np.ones(3)], "nvec": [3], "activation": "gelu"}, "activation:"),
    ({"weights": [np.ones((2, 1))], "biases": [np.ones(1)], "head": "box_mean"}, "needs the Box bounds"),
    ({"weights": [np.ones((2, 1))], "biases": [np.ones(1)], "head": "box_mean", "action_low": [1.0],
      "action_high": [0.0]}, "low < high"),
    ({"weights": [np.ones((2, 2))], "biases": [np.ones(2)], "nvec": [2], "obs_mean": [0.0, 0.0]},
     "give both VecNormalize statistics"),
    ({"weights": [np.full((2, 2), np.nan)], "biases": [np.ones(2)], "nvec": [2]}, r"weights\[0\]: expected finite"),
])
def test_invalid_networks_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MLPPolicy(**kwargs)


def test_wrong_feature_count_is_named():
    policy = MLPPolicy([np.eye(2)], [np.zeros(2)], nvec=[2])
    with pytest.raises(ValueError, match="contexts: expected 2 features, got 3"):
        policy.action_dist(np.ones((1, 3)))
