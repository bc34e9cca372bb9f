"""The Vowpal Wabbit contextual-bandit learner: online and offline learning with known answers, pmf validation,
refused exploration settings, the one-workspace-per-process guard and the policy artefact round-trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agents import vw_bandit
from agents.vw_bandit import (
    EXPLORATION_PRESETS,
    InvalidPmfError,
    VWContextualBandit,
    sample_from_pmf,
    validate_pmf,
)
from policies.policy import Policy, artefact_sha256, check_action_dist
from policies.vw_policy import VWPolicy
from sim_data.logs import BanditLog
from sim_data.synthetic import make_click_world

BEST = (2, 0)  # best action of context type 0 and 1
ONE_HOT = np.eye(2)


@pytest.fixture(autouse=True)
def _close_live_workspace():
    """A failing test must not leave the process's one VW workspace open for the next test."""
    yield
    live = vw_bandit._live_workspace() if vw_bandit._live_workspace is not None else None
    if live is not None:
        live.close()


def _online(bandit: VWContextualBandit, rounds: int, seed: int) -> None:
    """2 context types x 3 actions: the best action pays with prob. 0.8, the others 0.3."""
    rng = np.random.default_rng(seed)
    for _ in range(rounds):
        ctx_type = int(rng.integers(2))
        action, prob = bandit.act(ONE_HOT[ctx_type], rng)
        reward = float(rng.random() < (0.8 if action == BEST[ctx_type] else 0.3))
        bandit.learn(ONE_HOT[ctx_type], None, action, reward, prob)


@pytest.mark.parametrize("exploration", sorted(EXPLORATION_PRESETS))
def test_online_learner_finds_the_best_action_per_context(exploration):
    with VWContextualBandit(3, 2, exploration=exploration, seed=3) as bandit:
        _online(bandit, 3000, seed=1)
        for ctx_type, best in enumerate(BEST):
            pmf = bandit.predict(ONE_HOT[ctx_type])
            assert pmf.argmax() == best, (exploration, ctx_type, pmf)
            assert pmf[best] >= 0.8, (exploration, ctx_type, pmf)


def test_same_seed_same_numbers():
    def run():
        with VWContextualBandit(3, 2, exploration="bag", seed=5) as bandit:
            _online(bandit, 300, seed=2)
            return bandit.action_dist(ONE_HOT)

    np.testing.assert_array_equal(run(), run())


def test_offline_training_on_logged_clicks_beats_uniform():
    log, truth = make_click_world(20000, n_actions=5, n_positions=1, n_features=3, logging="softmax", seed=4)
    with VWContextualBandit.from_log(log, exploration="--epsilon 0.02", seed=0) as learner:
        dist = learner.action_dist(log.table)
    check_action_dist(dist)
    uniform = truth.policy_value(np.full(dist.shape, 1 / 5))
    learned = truth.policy_value(dist)
    optimal = truth.optimal_value()
    assert learned > uniform + 0.5 * (optimal - uniform)
    assert learned > 0.95 * optimal


def _mixed_log(n: int = 3000, seed: int = 0) -> BanditLog:
    """3 slots, a string and a numeric context feature, string + numeric item features; action 1 is best for 'b'."""
    rng = np.random.default_rng(seed)
    segment = rng.choice(["a", "b"], size=n)
    actions = rng.integers(0, 4, size=n)
    best = np.where(segment == "a", 3, 1)
    reward = (rng.random(n) < np.where(actions == best, 0.7, 0.1)).astype(float)
    table = pd.DataFrame({
        "event_id": [f"e{i}" for i in range(n)],
        "timestamp": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.arange(n), unit="s"),
        "action": actions, "position": rng.integers(0, 3, size=n), "propensity": 0.25, "reward": reward,
        "context_segment": segment, "context_x": rng.normal(size=n),
    })
    items = pd.DataFrame({"colour": ["red", "blue", "red", "green"], "size": [0.5, 1.0, 0.0, 2.0]})
    return BanditLog.from_frame(table, n_actions=4, n_positions=3, action_context=items)


def test_string_features_slots_and_save_load_round_trip(tmp_path):
    log = _mixed_log()
    with VWContextualBandit.from_log(log, exploration="softmax", seed=1) as learner:
        dist = learner.action_dist(log.table.head(50))
        learner.save(tmp_path / "vw")
        lines = list(learner.formatter.action_lines)
    assert dist.shape == (50, 4, 3)
    check_action_dist(dist)
    segment = log.table["context_segment"].head(50).to_numpy()
    assert (dist[segment == "a", 3, :] > 0.5).all() and (dist[segment == "b", 1, :] > 0.5).all()
    assert "f0=green" in lines[3] and "f1:2" in lines[3]

    loaded = Policy.load(tmp_path / "vw")
    try:
        assert isinstance(loaded, VWPolicy) and not isinstance(loaded, VWContextualBandit)
        assert loaded.formatter.action_lines == lines
        np.testing.assert_array_equal(loaded.action_dist(log.table.head(50)), dist)
        digest = artefact_sha256(tmp_path / "vw")
        assert len(digest) == 64
    finally:
        loaded.close()


def test_loaded_learner_keeps_learning(tmp_path):
    with VWContextualBandit(3, 2, exploration="epsilon", seed=0) as bandit:
        _online(bandit, 200, seed=0)
        bandit.save(tmp_path / "m")
        _online(bandit, 200, seed=9)
        continued = bandit.action_dist(ONE_HOT)
    loaded = Policy.load(tmp_path / "m")
    try:
        _online(loaded, 200, seed=9)
        np.testing.assert_allclose(loaded.action_dist(ONE_HOT), continued, atol=1e-6)
    finally:
        loaded.close()


def test_restricted_action_set():
    with VWContextualBandit(5, 1, exploration="epsilon") as bandit:
        pmf = bandit.predict([1.0], actions=[4, 1])
        assert pmf.shape == (2,) and pmf.sum() == pytest.approx(1.0)
        action, prob = bandit.act([1.0], np.random.default_rng(0), actions=[4, 1])
        assert action in (4, 1) and prob > 0
        bandit.learn([1.0], [4, 1], action, 1.0, prob)
        with pytest.raises(ValueError, match="chosen"):
            bandit.learn([1.0], [4, 1], 0, 1.0, 0.5)
        with pytest.raises(ValueError, match="actions"):
            bandit.predict([1.0], actions=[1, 1])


@pytest.mark.parametrize("pmf, n, chosen, match", [
    ([0.5, 0.5], 3, None, "expected 3 probabilities"),
    ([0.5, np.nan, 0.5], 3, None, "finite"),
    ([1.2, -0.2, 0.0], 3, None, "non-negative"),
    ([1.0, 1.0, 1.0], 3, None, "summing to 1"),
    ([0.5, 0.5 + 2e-6, 0.0], 3, None, "summing to 1"),
    ([1.0, 0.0, 0.0], 3, 1, "sampled action 1"),
])
def test_invalid_pmfs_are_refused(pmf, n, chosen, match):
    with pytest.raises(InvalidPmfError, match=match):
        validate_pmf(pmf, n, chosen)


def test_valid_pmf_is_renormalised_and_sampling_skips_zero_probabilities():
    p = validate_pmf(np.float32([0.2, 0.0, 0.8]), 3, chosen=2)
    assert p.dtype == np.float64 and p.sum() == 1.0
    rng = np.random.default_rng(0)
    draws = np.array([sample_from_pmf(p, rng) for _ in range(5000)])
    assert not (draws == 1).any()
    assert (draws == 2).mean() == pytest.approx(0.8, abs=0.02)


def test_regcbopt_is_refused_at_construction():
    with pytest.raises(ValueError, match="regcbopt is refused"):
        VWContextualBandit(3, 2, exploration="--regcbopt")


def test_an_exploration_setting_that_returns_an_invalid_vector_is_refused_by_the_probe(monkeypatch):
    monkeypatch.setattr(vw_bandit, "REFUSED_FLAGS", {})  # without the name check, the probe must catch it
    with pytest.raises(ValueError, match="invalid probability vector on a probe"):
        VWContextualBandit(3, 2, exploration="--regcbopt")
    with VWContextualBandit(3, 2) as ok:  # the refused workspace was finished: the slot is free
        assert ok.predict([0.0, 1.0]).shape == (3,)


def test_invalid_vector_during_use_raises():
    with VWContextualBandit(3, 2) as bandit:
        bandit._vw = _FakeWorkspace(bandit._vw)  # closing the bandit finishes the real workspace through it
        with pytest.raises(InvalidPmfError):
            bandit.predict([1.0, 0.0])
        with pytest.raises(InvalidPmfError):
            bandit.action_dist(ONE_HOT)
        with pytest.raises(InvalidPmfError):
            bandit.act([1.0, 0.0], np.random.default_rng(0))


class _FakeWorkspace:
    """Wraps a real workspace but returns a vector that does not sum to 1."""

    def __init__(self, real):
        self.real = real

    def predict(self, lines):
        return [0.9, 0.9, 0.9]

    def finish(self):
        self.real.finish()


def test_one_workspace_per_process():
    first = VWContextualBandit(3, 2)
    with pytest.raises(RuntimeError, match="one VW workspace per process"):
        VWContextualBandit(3, 2)
    first.close()
    first.close()  # twice is fine
    with pytest.raises(RuntimeError, match="closed"):
        first.predict([1.0, 0.0])
    with VWContextualBandit(3, 2) as second:
        assert second.predict([1.0, 0.0]).shape == (3,)


@pytest.mark.parametrize("kwargs, match", [
    ({"exploration": "greedy"}, "exploration"),
    ({"vw_args": "-f model.vw"}, "vw_args"),
    ({"interactions": ["s a"]}, "interactions"),
    ({"n_features": -1}, "n_features"),
    ({"feature_names": ["a"]}, "feature_names"),
])
def test_bad_arguments_are_refused(kwargs, match):
    args = {"n_actions": 3, "n_features": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        VWContextualBandit(**args)


def test_learn_and_fit_validate_feedback():
    log = _mixed_log(50)
    with VWContextualBandit(3, 2) as bandit:
        with pytest.raises(ValueError, match="prob"):
            bandit.learn([1.0, 0.0], None, 0, 1.0, 0.0)
        with pytest.raises(ValueError, match="reward"):
            bandit.learn([1.0, 0.0], None, 0, np.nan, 0.5)
        with pytest.raises(ValueError, match="expected 2 features"):
            bandit.predict([1.0, 0.0, 3.0])
        with pytest.raises(ValueError, match="log: n_actions=4"):
            bandit.fit_log(log)
    unknown = BanditLog.from_frame(log.table.assign(propensity=np.nan), n_actions=4, n_positions=3)
    with VWContextualBandit(4, 2, n_positions=3) as bandit:
        with pytest.raises(ValueError, match="propensity column is unknown"):
            bandit.fit_log(unknown)


def test_one_context_as_list_series_or_frame_gives_the_same_pmf():
    log = _mixed_log(500)
    with VWContextualBandit.from_log(log, exploration="epsilon") as learner:
        row = log.table.iloc[0]
        series = row[["context_segment", "context_x"]]
        from_frame = learner.predict(log.table.head(1), position=1)
        np.testing.assert_array_equal(learner.predict(series, position=1), from_frame)
        np.testing.assert_array_equal(learner.predict([row["context_segment"], row["context_x"]], position=1),
                                      from_frame)
        np.testing.assert_array_equal(learner.action_dist(log.table.head(1))[0, :, 1], from_frame)
