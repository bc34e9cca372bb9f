"""Budget pacing on the AdAllocation env: the serve/skip env, linear pacing, hand-written baselines, the fluid
bound, and their comparison (the RL pacers are in :mod:`agents.pacing_rl`).

Pacing decides *whether* to serve each arriving shopper; *what* to show is fixed: each context's slate (by default
the best slate, :func:`envs.oracles.best_slates`). :class:`PacingVectorEnv` is the AdAllocation vector env with
the action reduced to ``Discrete(2)`` (0 skip, 1 serve), two pacing features added to the observation (the
arrival's expected clicks per unit cost, and how much of the rest of the day the budget can still pay for), and a
guard: a slate is served only when the remaining budget covers its worst-case cost (every impression and every
click paid), so no policy can overrun the budget.

* :class:`LinearPacing`: serve while the spend so far is below the linear schedule ``budget * (t + 1) / T``.
* :class:`GreedyPacing`: serve every shopper until the budget is gone.
* :class:`StaticThresholdPacing` with :func:`lp_threshold`: serve only the arrivals the fluid LP serves in full.
* :func:`fluid_pacing_bound`: the fluid LP (a fractional knapsack over day part x context): an upper bound on
  expected clicks per day for any pacing of the given slates.
* :func:`compare_pacing`: policies on the same evaluation seeds (common random numbers), clicks, spend and
  overruns per day, with 95% intervals.

With pure cost-per-click pricing and clicks as the reward, every policy that spends the budget gets the same
clicks per unit spent; pacing matters when impressions cost (CPM pricing) or click costs differ across contexts.
:func:`cpm_params` builds the CPM instance the benchmark uses.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector.utils import batch_space

from agents.evaluate import ratio_interval, run_episodes, sb3_actor
from envs.ad_allocation_vector import AdAllocationVectorEnv
from envs.oracles import budget_fluid_bound, check_slates, slate_costs, slate_ctr, slate_expected_costs
from envs.params import ClickParams


def cpm_params(params: ClickParams, budget: float, arrivals_per_day: int, serve_share: float = 0.5) -> ClickParams:
    """``params`` with CPM pricing: no click cost, and an impression cost such that the budget buys full slates for
    ``serve_share`` of the day's arrivals.

    :param serve_share: share of arrivals the budget can serve, in (0, 1].
    """
    if not 0 < serve_share <= 1:
        raise ValueError(f"serve_share: expected a number in (0, 1], found {serve_share}")
    cpi = budget / (serve_share * arrivals_per_day * params.n_positions)
    return dataclasses.replace(params, cost_per_click=0.0, cost_per_impression=cpi)


class PacingVectorEnv(AdAllocationVectorEnv):
    """AdAllocation with a serve/skip action per arrival and no budget overrun; see the module docstring.

    Observations ``(num_envs, n_features + 4)``: the context features, then ``value`` (the arriving shopper's slate
    expected clicks per unit of expected cost, relative to the day's arrival-weighted mean: > 1 is a better than
    average arrival), ``afford`` (remaining budget over the expected cost of serving every remaining arrival,
    clipped to [0, 2]: < 1 means the budget cannot serve everyone left), ``t / T`` and the remaining budget share
    (the last two as in :class:`envs.ad_allocation_vector.AdAllocationVectorEnv`). Actions ``(num_envs,)`` in
    {0, 1}; info adds ``served`` (the slate was shown).

    :param num_envs: sub-environments.
    :param params: the click model and costs.
    :param budget: daily budget.
    :param arrivals_per_day: T.
    :param slates: ``(n_contexts, K)`` the slate shown per context (default: the best slates).
    :param autoreset_mode: see :class:`envs._vector_base.NumpyVectorEnv`.
    """

    AFFORD_CAP = 2.0
    VALUE, AFFORD, TIME, BUDGET = -4, -3, -2, -1
    """Column indices of ``value``, ``afford``, ``t / T`` and the remaining budget share in an observation."""

    def __init__(self, num_envs: int = 1, params: ClickParams | None = None, budget: float = 100.0,
                 arrivals_per_day: int = 1000, slates: Any = None, autoreset_mode: Any = "NextStep"):
        super().__init__(num_envs, params, budget, arrivals_per_day, autoreset_mode=autoreset_mode)
        self.slates = check_slates(self.params, slates)
        self.slate_cost = slate_costs(self.params, self.slates)
        exp_cost = slate_expected_costs(self.params, self.slates)
        if (exp_cost <= 0).any():
            raise ValueError("params: every context's slate must have a positive expected cost for pacing to matter")
        mix = self.params.context_probs.mean(axis=0)
        rate = slate_ctr(self.params, self.slates) / exp_cost
        self.value = (rate / float(mix @ rate)).astype(np.float32)
        self._mean_cost = float(mix @ exp_cost)
        low, high = self.single_observation_space.low, self.single_observation_space.high
        n = self._n_features
        self.single_observation_space = spaces.Box(
            np.concatenate([low[:n], [0.0, 0.0], low[n:]]).astype(np.float32),
            np.concatenate([high[:n], [float(self.value.max()), self.AFFORD_CAP], high[n:]]).astype(np.float32),
            dtype=np.float32)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.single_action_space = spaces.Discrete(2)
        self.action_space = batch_space(self.single_action_space, self.num_envs)

    def _observe(self) -> np.ndarray:
        base = super()._observe()
        left = self.arrivals_per_day - self._t
        afford = self._remaining / (self._mean_cost * np.maximum(left, 1))
        extra = np.stack([self.value[self._context], np.minimum(afford, self.AFFORD_CAP)], axis=1)
        n = self._n_features
        return np.concatenate([base[:, :n], extra.astype(np.float32), base[:, n:]], axis=1)

    def _advance(self, actions: Any):
        serve = self._int_actions(actions, (self.num_envs,), np.array(2)).astype(bool)
        serve &= self._remaining >= self.slate_cost[self._context] - 1e-12
        items = np.where(serve[:, None], self.slates[self._context], self._n_items)
        rewards, terminated, truncated, info = super()._advance(items)
        info["served"] = serve
        return rewards, terminated, truncated, info


class LinearPacing:
    """Serve while the spend so far is below ``budget * (t + 1) / T`` (read from the observation).

    :param arrivals_per_day: T.
    """

    def __init__(self, arrivals_per_day: int):
        if int(arrivals_per_day) != arrivals_per_day or arrivals_per_day < 1:
            raise ValueError(f"arrivals_per_day: expected a whole number >= 1, found {arrivals_per_day}")
        self.step_share = 1.0 / int(arrivals_per_day)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        spent_share = 1.0 - obs[:, PacingVectorEnv.BUDGET]
        return (spent_share < obs[:, PacingVectorEnv.TIME] + self.step_share - 1e-9).astype(np.int64)


class GreedyPacing:
    """Serve every arrival while budget remains (the env's guard stops it)."""

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return np.ones(np.asarray(obs).shape[0], dtype=np.int64)


class StaticThresholdPacing:
    """Serve the arrivals whose ``value`` (observation column :attr:`PacingVectorEnv.VALUE`) is at least
    ``threshold``, all day, while budget remains: a static hand-written policy.

    :param threshold: the value threshold (:func:`lp_threshold` gives the fluid LP's).
    """

    def __init__(self, threshold: float):
        if not np.isfinite(threshold):
            raise ValueError(f"threshold: expected a finite number, found {threshold}")
        self.threshold = float(threshold)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return (np.asarray(obs)[:, PacingVectorEnv.VALUE] >= self.threshold - 1e-6).astype(np.int64)


def lp_threshold(params: ClickParams, budget: float, arrivals_per_day: int, slates: Any = None) -> float:
    """The smallest arrival ``value`` (as in :class:`PacingVectorEnv`) that the fluid LP serves in full; with it,
    :class:`StaticThresholdPacing` serves what the LP serves except the LP's one fractionally served (marginal) group."""
    env = PacingVectorEnv(1, params, budget, arrivals_per_day, slates)
    share = np.asarray(fluid_pacing_bound(params, budget, arrivals_per_day, env.slates)["serve_share"])
    full = share.min(axis=0) >= 1.0 - 1e-12  # contexts served in full in every day part
    return float(env.value[full].min()) if full.any() else float(env.value.max())


def fluid_pacing_bound(params: ClickParams, budget: float, arrivals_per_day: int, slates: Any = None) -> dict[str, Any]:
    """The fluid upper bound on expected clicks per day of serve/skip pacing with ``slates``
    (:func:`envs.oracles.budget_fluid_bound`, the AdAllocation env's budget-aware oracle), its ``reward`` under
    the name ``clicks``."""
    bound = budget_fluid_bound(params, budget, arrivals_per_day, slates)
    bound["clicks"] = bound.pop("reward")
    return bound


def _day_stats(act: Any, params: ClickParams, budget: float, arrivals_per_day: int, slates: np.ndarray,
               n_seeds: int, seed: int) -> dict[str, np.ndarray]:
    venv = PacingVectorEnv(n_seeds, params, budget, arrivals_per_day, slates)
    runs = run_episodes(act, venv, seed)
    return {"clicks": runs["reward"], "spend": runs["info"]["spend"], "served": runs["info"]["served"]}


def compare_pacing(policies: dict[str, Any], params: ClickParams, budget: float, arrivals_per_day: int,
                   n_seeds: int = 30, seed: int = 1_000_003, slates: Any = None) -> dict[str, Any]:
    """Run each pacing policy for ``n_seeds`` days on the same seed (common random numbers).

    :param policies: name -> ``act(obs)`` callable or a stable-baselines3 model.
    :return: ``oracle`` (the fluid bound) and per policy: ``clicks`` (mean, ``ci``, ratio to the bound with its
        ``ratio_ci``), ``spend`` (mean per day), ``spend_share`` (of the budget), ``overruns`` (days spending more
        than the budget), ``served`` (mean slates served per day), ``clicks_per_day`` (per seed).
    """
    slates = check_slates(params, slates)
    oracle = fluid_pacing_bound(params, budget, arrivals_per_day, slates)["clicks"]
    out: dict[str, Any] = {"oracle": oracle, "policies": {}}
    for name, policy in policies.items():
        act = sb3_actor(policy) if hasattr(policy, "predict") else policy
        stats_ = _day_stats(act, params, budget, arrivals_per_day, slates, n_seeds, seed)
        summary = ratio_interval(stats_["clicks"], oracle, "reward")
        out["policies"][name] = {
            "clicks": summary["value"], "ci": summary["value_ci"], "ratio": summary["ratio"], "ratio_ci": summary["ci"],
            "spend": float(stats_["spend"].mean()), "spend_share": float(stats_["spend"].mean() / budget),
            "overruns": int((stats_["spend"] > budget + 1e-9).sum()), "served": float(stats_["served"].mean()),
            "clicks_per_day": stats_["clicks"].tolist(),
        }
    return out
