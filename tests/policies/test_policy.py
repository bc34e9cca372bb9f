"""The deployable policy interface: distributions, saving/loading artefacts, fingerprints."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from policies.policy import (
    ArrayPolicy,
    EpsilonGreedyPolicy,
    FixedDistributionPolicy,
    LinearSoftmaxPolicy,
    Policy,
    UniformPolicy,
    artefact_sha256,
)


def test_uniform_policy_shape_and_values():
    dist = UniformPolicy(4, 2).action_dist(np.zeros((3, 5)))
    assert dist.shape == (3, 4, 2)
    np.testing.assert_allclose(dist, 0.25)


def test_fixed_distribution_broadcasts_to_every_round():
    d = np.array([[0.2, 1.0], [0.8, 0.0]])
    dist = FixedDistributionPolicy(d).action_dist(pd.DataFrame({"context_a": [1.0, 2.0, 3.0]}))
    assert dist.shape == (3, 2, 2)
    np.testing.assert_allclose(dist[2], d)


def test_fixed_distribution_rejects_columns_not_summing_to_one():
    with pytest.raises(ValueError, match="dist: each"):
        FixedDistributionPolicy(np.array([[0.2], [0.7]]))


def test_linear_softmax_known_values():
    # one feature, two actions, one slot: scores x*[1, 0] + bias [0, 0]
    policy = LinearSoftmaxPolicy(np.array([[1.0, 0.0]]), temperature=1.0)
    dist = policy.action_dist(np.array([[np.log(3.0)]]))
    np.testing.assert_allclose(dist[0, :, 0], [0.75, 0.25])


def test_epsilon_greedy_known_values_and_ties():
    policy = EpsilonGreedyPolicy(np.array([[1.0, 0.0, 0.0]]), epsilon=0.3)
    dist = policy.action_dist(np.array([[2.0], [0.0]]))
    np.testing.assert_allclose(dist[0, :, 0], [0.7 + 0.1, 0.1, 0.1])
    np.testing.assert_allclose(dist[1, :, 0], [0.7 / 3 + 0.1] * 3)  # all scores tie at x = 0


def test_linear_policy_reads_context_columns_of_a_frame():
    policy = LinearSoftmaxPolicy(np.array([[1.0, 0.0], [0.0, 1.0]]), temperature=0.0)
    frame = pd.DataFrame({"context_a": [1.0, 0.0], "context_b": [0.0, 1.0], "reward": [0.0, 1.0]})
    dist = policy.action_dist(frame)
    np.testing.assert_allclose(dist[:, :, 0], [[1.0, 0.0], [0.0, 1.0]])


def test_linear_policy_rejects_wrong_feature_count():
    policy = LinearSoftmaxPolicy(np.ones((2, 3)))
    with pytest.raises(ValueError, match="expected 2 features"):
        policy.action_dist(np.ones((4, 3)))


@pytest.mark.parametrize("policy", [
    UniformPolicy(3, 2),
    FixedDistributionPolicy(np.array([[0.5, 0.1], [0.25, 0.1], [0.25, 0.8]])),
    ArrayPolicy(np.full((4, 3, 2), 1 / 3)),
    LinearSoftmaxPolicy(np.arange(18.0).reshape(3, 3, 2) / 10, bias=np.ones((3, 2)), temperature=0.5, epsilon=0.1,
                        feature_names=["context_a", "context_b", "context_c"]),
    EpsilonGreedyPolicy(np.arange(6.0).reshape(3, 2), epsilon=0.2),
])
def test_save_load_round_trip(tmp_path, policy):
    x = np.random.default_rng(0).normal(size=(4, 3))
    frame = pd.DataFrame(x, columns=["context_a", "context_b", "context_c"])
    policy.save(tmp_path / "p")
    loaded = Policy.load(tmp_path / "p")
    assert type(loaded) is type(policy)
    assert (loaded.n_actions, loaded.n_positions) == (policy.n_actions, policy.n_positions)
    np.testing.assert_allclose(loaded.action_dist(frame), policy.action_dist(frame))
    manifest = json.loads((tmp_path / "p" / "policy.json").read_text())
    assert manifest["class"].endswith(type(policy).__name__)


def test_sha256_is_stable_and_sees_changes(tmp_path):
    FixedDistributionPolicy(np.array([[0.5], [0.5]])).save(tmp_path / "a")
    FixedDistributionPolicy(np.array([[0.5], [0.5]])).save(tmp_path / "b")
    FixedDistributionPolicy(np.array([[0.4], [0.6]])).save(tmp_path / "c")
    assert artefact_sha256(tmp_path / "a") == artefact_sha256(tmp_path / "b")
    assert artefact_sha256(tmp_path / "a") != artefact_sha256(tmp_path / "c")


def test_load_detects_a_changed_data_file(tmp_path):
    FixedDistributionPolicy(np.array([[0.5], [0.5]])).save(tmp_path / "a")
    FixedDistributionPolicy(np.array([[0.4], [0.6]])).save(tmp_path / "c")
    (tmp_path / "a" / "dist.npy").write_bytes((tmp_path / "c" / "dist.npy").read_bytes())
    with pytest.raises(ValueError, match="sha256"):
        Policy.load(tmp_path / "a")


def test_load_rejects_unknown_class(tmp_path):
    UniformPolicy(2).save(tmp_path / "u")
    path = tmp_path / "u" / "policy.json"
    manifest = json.loads(path.read_text())
    manifest["class"] = "policies.policy.NoSuchPolicy"
    path.write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="cannot import policy class"):
        Policy.load(tmp_path / "u")


def test_sample_is_seeded_and_follows_the_distribution():
    policy = FixedDistributionPolicy(np.array([[0.2, 1.0], [0.8, 0.0]]))
    a1, p1 = policy.sample(np.zeros((20_000, 1)), np.random.default_rng(3))
    a2, _ = policy.sample(np.zeros((20_000, 1)), np.random.default_rng(3))
    np.testing.assert_array_equal(a1, a2)
    assert a1.shape == (20_000, 2)
    assert abs((a1[:, 0] == 1).mean() - 0.8) < 0.02
    assert (a1[:, 1] == 0).all()
    np.testing.assert_allclose(p1[a1[:, 0] == 1, 0], 0.8)


def test_constructor_errors_name_the_argument():
    with pytest.raises(ValueError, match="n_actions"):
        UniformPolicy(0)
    with pytest.raises(ValueError, match="bias"):
        LinearSoftmaxPolicy(np.ones((2, 3)), bias=np.ones(4))


@pytest.mark.parametrize("temperature, epsilon", [(1.0, 0.0), (0.5, 0.2), (0.0, 0.1)])
def test_slot_dist_and_logged_probs_are_slices_of_action_dist(temperature, epsilon):
    from policies.policy import FixedDistributionPolicy, LinearSoftmaxPolicy, UniformPolicy

    rng = np.random.default_rng(0)
    x = rng.normal(size=(10_000, 3))
    k = rng.integers(0, 2, size=10_000)
    a = rng.integers(0, 7, size=10_000)
    weights = np.round(rng.normal(size=(3, 7, 2)), 1) if temperature == 0 else rng.normal(size=(3, 7, 2))
    for policy in (LinearSoftmaxPolicy(weights, rng.normal(size=(7, 2)), temperature=temperature, epsilon=epsilon),
                   FixedDistributionPolicy(rng.dirichlet(np.ones(7), size=2).T), UniformPolicy(7, 2)):
        full = policy.action_dist(x)[np.arange(len(k)), :, k]
        np.testing.assert_allclose(policy.slot_dist(x, k), full, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(policy.logged_probs(x, k, a), full[np.arange(len(k)), a], rtol=1e-12, atol=1e-15)


def test_logged_probs_survive_scores_far_above_the_logged_one():
    from policies.policy import LinearSoftmaxPolicy

    weights = np.zeros((1, 3, 1))
    weights[0, 2, 0] = 1.0  # action 2 scores x, the others 0
    policy = LinearSoftmaxPolicy(weights, temperature=0.5)
    x = np.array([[0.0], [800.0], [-800.0]])
    probs = policy.logged_probs(x, np.zeros(3, dtype=int), np.zeros(3, dtype=int))
    np.testing.assert_allclose(probs, policy.action_dist(x)[:, 0, 0], rtol=1e-12, atol=1e-300)
    assert probs[1] == 0.0 and probs[2] == pytest.approx(0.5)
