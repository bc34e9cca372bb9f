"""Budget pacing: the serve/skip env never overruns, linear pacing follows its schedule, the fluid bound."""

from __future__ import annotations

import numpy as np
import pytest

from agents.evaluate import run_episodes
from agents.pacing import (
    GreedyPacing,
    LinearPacing,
    PacingVectorEnv,
    compare_pacing,
    cpm_params,
    fluid_pacing_bound,
    slate_ctr,
)
from envs.defaults import synthetic_click_params
from envs.oracles import best_slates

T = 400


@pytest.fixture(scope="module")
def cpm():
    return cpm_params(synthetic_click_params(), 40.0, T, 0.5)


def test_fluid_bound_serves_everyone_when_the_budget_does_not_bind(cpm):
    slates = np.asarray(best_slates(cpm)["slates"])
    everyone = T * float(cpm.context_probs.mean(axis=0) @ slate_ctr(cpm, slates))
    assert fluid_pacing_bound(cpm, 1e9, T)["clicks"] == pytest.approx(everyone)
    half = fluid_pacing_bound(cpm, 40.0, T)
    # half the arrivals, the best half: more than half the clicks, less than all
    assert everyone / 2 < half["clicks"] < everyone
    assert np.array(half["serve_share"]).max() == 1.0


class ThresholdPacing:
    """Serve only the contexts the fluid LP serves in full (a known good pacing policy)."""

    def __init__(self, params, share):
        self.features = params.context_features
        self.serve = np.asarray(share)

    def __call__(self, obs):
        ctx = np.argmax(obs[:, : self.features.shape[1]], axis=1)
        part = np.minimum((obs[:, -2] * self.serve.shape[0]).astype(int), self.serve.shape[0] - 1)
        return (self.serve[part, ctx] > 0.5).astype(np.int64)


def test_linear_pacing_spends_the_budget_evenly_and_a_threshold_policy_beats_it(cpm):
    out = compare_pacing({"linear": LinearPacing(T), "greedy": GreedyPacing(),
                          "threshold": ThresholdPacing(cpm, fluid_pacing_bound(cpm, 40.0, T)["serve_share"])},
                         cpm, 40.0, T, n_seeds=30, seed=2)
    lin, greedy, thr = (out["policies"][k] for k in ("linear", "greedy", "threshold"))
    assert lin["spend_share"] == pytest.approx(1.0, abs=0.02) and lin["overruns"] == 0
    assert greedy["overruns"] == 0 and thr["overruns"] == 0
    assert thr["clicks"] > 1.1 * lin["clicks"]
    assert thr["ratio"] <= 1.05 and lin["ratio"] < thr["ratio"]
    # linear pacing serves about half of its slates in the first half of the day
    env = PacingVectorEnv(30, cpm, 40.0, T)
    obs, _ = env.reset(seed=4)
    served_first_half = 0
    policy = LinearPacing(T)
    for _ in range(T // 2):
        obs, _, _, _, info = env.step(policy(obs))
        served_first_half += info["served"].sum()
    assert served_first_half / 30 == pytest.approx(0.5 * lin["served"], rel=0.05)


def test_the_guard_prevents_overruns_under_random_click_costs():
    params = synthetic_click_params()  # cost per click 0.5 .. 1.5, clicks are random
    env = PacingVectorEnv(30, params, 5.0, T)
    runs = run_episodes(GreedyPacing(), env, 1)
    assert (runs["info"]["spend"] <= 5.0 + 1e-9).all()
    # it stops only when the remaining budget cannot cover a slate's worst-case cost
    assert (runs["info"]["spend"] > 5.0 - env.slate_cost.max()).all()


def test_pacing_refuses_bad_arguments(cpm):
    with pytest.raises(ValueError, match="serve_share"):
        cpm_params(cpm, 10.0, 100, 0.0)
    with pytest.raises(ValueError, match="slates"):
        PacingVectorEnv(2, cpm, 10.0, 100, slates=np.zeros((2, 2), dtype=int))
    with pytest.raises(ValueError, match="arrivals_per_day"):
        LinearPacing(0)
