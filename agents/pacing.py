"""Budget pacing on the AdAllocation env: linear pacing, an RL pacer (PPO), the fluid bound, and their comparison.

Pacing decides *whether* to serve each arriving shopper; *what* to show is fixed: each context's slate (by default
the best slate, :func:`envs.oracles.best_slates`). :class:`PacingVectorEnv` is the AdAllocation vector env with
the action reduced to ``Discrete(2)`` (0 skip, 1 serve) and a guard: a slate is served only when the remaining
budget covers its worst-case cost (every impression and every click paid), so no policy can overrun the budget.

* :class:`LinearPacing`: serve while the spend so far is below the linear schedule ``budget * (t + 1) / T``.
* :class:`GreedyPacing`: serve every shopper until the budget is gone.
* :func:`fluid_pacing_bound`: the fluid LP (a fractional knapsack over day part x context): an upper bound on
  expected clicks per day for any pacing of the given slates.
* :func:`train_pacing_ppo`: PPO on :class:`PacingVectorEnv` (observations: context, time of day, remaining budget).
* :func:`compare_pacing`: both policies on the same evaluation seeds (common random numbers), clicks, spend and
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
from envs.oracles import best_slates
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


def slate_costs(params: ClickParams, slates: np.ndarray) -> np.ndarray:
    """Worst-case cost of each context's slate (every impression and every click paid), shape ``(n_contexts,)``."""
    return (params.cost_per_impression[slates] + params.cost_per_click[slates]).sum(axis=1)


def slate_ctr(params: ClickParams, slates: np.ndarray) -> np.ndarray:
    """Expected clicks of each context's slate, shape ``(n_contexts,)``."""
    rel = params.relevance[np.arange(params.n_contexts)[:, None], slates]
    return (rel * params.position_bias[None, :]).sum(axis=1)


def _check_slates(params: ClickParams, slates: Any) -> np.ndarray:
    slates = np.asarray(best_slates(params)["slates"] if slates is None else slates)
    if slates.shape != (params.n_contexts, params.n_positions) or slates.dtype.kind not in "iu":
        raise ValueError(f"slates: expected whole-number item ids of shape ({params.n_contexts}, {params.n_positions}), "
                         f"found {slates.shape}")
    if slates.min() < 0 or slates.max() >= params.n_items:
        raise ValueError(f"slates: expected item ids in [0, {params.n_items - 1}]")
    return slates.astype(np.int64)


class PacingVectorEnv(AdAllocationVectorEnv):
    """AdAllocation with a serve/skip action per arrival and no budget overrun; see the module docstring.

    Observations as :class:`envs.ad_allocation_vector.AdAllocationVectorEnv` (context features, ``t / T``,
    remaining budget share); actions ``(num_envs,)`` in {0, 1}; info adds ``served`` (the slate was shown).

    :param num_envs: sub-environments.
    :param params: the click model and costs.
    :param budget: daily budget.
    :param arrivals_per_day: T.
    :param slates: ``(n_contexts, K)`` the slate shown per context (default: the best slates).
    :param autoreset_mode: see :class:`envs._vector_base.NumpyVectorEnv`.
    """

    def __init__(self, num_envs: int = 1, params: ClickParams | None = None, budget: float = 100.0,
                 arrivals_per_day: int = 1000, slates: Any = None, autoreset_mode: Any = "NextStep"):
        super().__init__(num_envs, params, budget, arrivals_per_day, autoreset_mode=autoreset_mode)
        self.slates = _check_slates(self.params, slates)
        self.slate_cost = slate_costs(self.params, self.slates)
        self.single_action_space = spaces.Discrete(2)
        self.action_space = batch_space(self.single_action_space, self.num_envs)

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
        spent_share = 1.0 - obs[:, -1]
        return (spent_share < obs[:, -2] + self.step_share - 1e-9).astype(np.int64)


class GreedyPacing:
    """Serve every arrival while budget remains (the env's guard stops it)."""

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return np.ones(np.asarray(obs).shape[0], dtype=np.int64)


def fluid_pacing_bound(params: ClickParams, budget: float, arrivals_per_day: int, slates: Any = None) -> dict[str, Any]:
    """The fluid upper bound on expected clicks per day: serve the (day part, context) pairs in decreasing order of
    clicks per unit cost until the expected spend reaches the budget (a fractional knapsack, which solves the LP).

    :return: ``clicks`` (the bound), ``serve_share`` ``(n_day_parts, n_contexts)`` (the LP's share served).
    """
    slates = _check_slates(params, slates)
    ctr, cost = slate_ctr(params, slates), slate_costs(params, slates)
    # expected cost of serving: impressions plus expected clicks' cost
    rel = params.relevance[np.arange(params.n_contexts)[:, None], slates] * params.position_bias[None, :]
    exp_cost = (params.cost_per_impression[slates] + rel * params.cost_per_click[slates]).sum(axis=1)
    arrivals = params.context_probs * (arrivals_per_day / params.n_day_parts)  # (D, C)
    value = np.broadcast_to(ctr, arrivals.shape).ravel()
    spend = np.broadcast_to(exp_cost, arrivals.shape).ravel()
    mass = arrivals.ravel()
    order = np.argsort(-(value / np.maximum(spend, 1e-300)), kind="stable")
    share = np.zeros_like(mass)
    left = float(budget)
    for i in order:
        need = mass[i] * spend[i]
        take = 1.0 if need <= left else max(left / need, 0.0)
        share[i] = take
        left -= take * need
        if left <= 0:
            break
    return {"clicks": float((share * mass * value).sum()), "serve_share": share.reshape(arrivals.shape).tolist(),
            "worst_case_slate_cost": cost.tolist()}


def train_pacing_ppo(params: ClickParams, budget: float, arrivals_per_day: int, total_steps: int, seed: int = 0,
                     n_envs: int = 8, slates: Any = None, progress: bool = False, **ppo_kwargs: Any):
    """Train PPO on :class:`PacingVectorEnv` and return the model.

    :param total_steps: env steps of training.
    :param seed: seed of the environments and of PPO.
    :param n_envs: parallel sub-environments.
    :param ppo_kwargs: overrides of PPO's hyper-parameters.
    """
    from stable_baselines3 import PPO

    from envs.sb3_vec_env import SB3VecEnv

    venv = SB3VecEnv(PacingVectorEnv(n_envs, params, budget, arrivals_per_day, slates))
    venv.seed(seed)
    kwargs = {"n_steps": 1024, "batch_size": 1024, "n_epochs": 10, "gamma": 0.999, "gae_lambda": 0.95,
              "learning_rate": 3e-4, "ent_coef": 0.0, "policy_kwargs": {"net_arch": [64, 64]}} | ppo_kwargs
    model = PPO("MlpPolicy", venv, seed=seed, device="cpu", verbose=0, **kwargs)
    model.learn(total_timesteps=int(total_steps), progress_bar=progress)
    return model


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
    slates = _check_slates(params, slates)
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
