"""Evaluate any policy on one of retailrl's vector environments over independent evaluation seeds.

A *policy* here is any callable ``act(obs) -> actions`` on a batch: ``obs`` ``(n_seeds, obs_dim)`` to actions
``(n_seeds,)`` or ``(n_seeds, n_entries)``; :func:`sb3_actor` turns a stable-baselines3 model into one, the
baselines in :mod:`agents.baselines_inventory` and :mod:`agents.pacing` are already such callables.

:func:`evaluate_policy` runs ``n_seeds`` independent episodes side by side (one sub-environment each, one seeded
generator: same seed, same numbers) and reports the mean per-episode value with a 95% t-interval and, given the
oracle, the ratio to it: ``value / oracle`` for rewards, ``oracle / value`` for costs (1.0 is the oracle), whose
interval is the value's interval mapped through the same ratio.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import stats

from envs import NumpyVectorEnv

KINDS = ("reward", "cost")
MIN_EVAL_SEEDS = 30
"""Records use at least this many evaluation seeds."""

Actor = Callable[[np.ndarray], Any]


def ratio_interval(values: np.ndarray, oracle: float | None, kind: str = "reward",
                   confidence: float = 0.95) -> dict[str, Any]:
    """Mean of per-seed ``values`` with a t-interval, and its ratio to ``oracle``.

    :param values: ``(n_seeds,)`` one value per evaluation seed (reward per episode, or cost per period).
    :param oracle: the benchmark's value (> 0), or ``None`` to report no ratio.
    :param kind: ``"reward"`` (ratio ``value / oracle``) or ``"cost"`` (ratio ``oracle / value``).
    :param confidence: coverage of the interval.
    :return: ``value``, ``value_ci`` ``[lo, hi]``, ``oracle``, ``ratio``, ``ci`` ``[lo, hi]`` (of the ratio),
        ``n_seeds``.
    """
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, found {kind!r}")
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size < 2:
        raise ValueError(f"values: expected at least 2 per-seed values (shape (n_seeds,)), found shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("values: expected finite numbers, found NaN or inf")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence: expected a number in (0, 1), found {confidence}")
    mean = float(values.mean())
    half = float(stats.t.ppf(0.5 + confidence / 2, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size))
    out: dict[str, Any] = {"value": mean, "value_ci": [mean - half, mean + half], "oracle": oracle,
                           "ratio": None, "ci": None, "n_seeds": int(values.size)}
    if oracle is None:
        return out
    if not (np.isfinite(oracle) and oracle > 0):
        raise ValueError(f"oracle: expected a finite value > 0, found {oracle!r}")
    if kind == "reward":
        out["ratio"] = mean / oracle
        out["ci"] = [(mean - half) / oracle, (mean + half) / oracle]
    else:
        if mean - half <= 0:
            raise ValueError(f"values: the cost interval [{mean - half:.4g}, {mean + half:.4g}] reaches 0; "
                             "a cost ratio oracle / value needs positive costs")
        out["ratio"] = oracle / mean
        out["ci"] = [oracle / (mean + half), oracle / (mean - half)]
    return out


def run_episodes(act: Actor, venv: NumpyVectorEnv, seed: int, warmup: int = 0,
                 max_steps: int = 1_000_000) -> dict[str, np.ndarray]:
    """Run one episode in every sub-environment of ``venv`` (reset with ``seed``) and collect per-episode sums.

    Steps continue until every sub-environment's first episode has ended; later steps of a finished one are
    ignored. The first ``warmup`` steps of each episode are not counted (for stationary problems whose start
    state is not the steady state).

    :param act: the policy, ``obs (n, obs_dim) -> actions``.
    :param venv: a native vector environment (``gymnasium.make_vec(..., vectorization_mode="vector_entry_point")``
        or the class itself); its number of sub-environments is the number of evaluation seeds.
    :return: ``reward`` ``(n,)`` summed reward after the warm-up, ``steps`` ``(n,)`` steps counted, ``info`` sums of
        the numeric per-step info arrays of shape ``(n,)`` (e.g. ``clicks``, ``spend``, ``cost``).
    """
    base = getattr(venv, "unwrapped", venv)
    if not isinstance(base, NumpyVectorEnv):
        raise ValueError(f"venv: expected one of retailrl's native vector envs, found {type(base).__name__}")
    if int(warmup) != warmup or warmup < 0:
        raise ValueError(f"warmup: expected a whole number >= 0, found {warmup}")
    n = base.num_envs
    obs, _ = base.reset(seed=int(seed))
    done = np.zeros(n, dtype=bool)
    total = np.zeros(n)
    steps = np.zeros(n, dtype=np.int64)
    info_sums: dict[str, np.ndarray] = {}
    t = 0
    while not done.all():
        if t >= max_steps:
            raise ValueError(f"max_steps: {max_steps} steps did not finish every episode")
        actions = act(obs)
        obs, rewards, terminated, truncated, info = base.step(actions)
        counted = ~done & (t >= warmup)
        total += np.where(counted, rewards, 0.0)
        steps += counted
        for key, value in info.items():
            arr = np.asarray(value)
            if arr.shape == (n,) and arr.dtype.kind in "biuf" and not key.startswith("_"):
                info_sums[key] = info_sums.get(key, np.zeros(n)) + np.where(counted, arr, 0)
        done |= terminated | truncated
        t += 1
    return {"reward": total, "steps": steps, "info": info_sums}


def evaluate_policy(act: Actor, make_venv: Callable[[int], NumpyVectorEnv], *, n_seeds: int = MIN_EVAL_SEEDS,
                    seed: int = 1_000_003, oracle: float | None = None, kind: str = "reward",
                    per_period: bool = False, warmup: int = 0) -> dict[str, Any]:
    """Evaluate ``act`` over ``n_seeds`` independent episodes and compare with the oracle.

    :param act: the policy, ``obs (n_seeds, obs_dim) -> actions``.
    :param make_venv: builds the vector environment with the given number of sub-environments.
    :param n_seeds: evaluation episodes (>= 2; records use >= 30). Use seeds not used in training.
    :param seed: the evaluation generator's seed.
    :param oracle: the benchmark value (per episode, or per period with ``per_period``); ``None``: no ratio.
    :param kind: ``"reward"`` (value = summed reward) or ``"cost"`` (value = minus the summed reward).
    :param per_period: divide each episode's value by its counted steps (average reward or cost per period).
    :param warmup: steps at the start of each episode left out of the value.
    :return: :func:`ratio_interval`'s dict plus ``values`` (per seed), ``seed``, ``warmup``, ``info`` (per-seed
        means of the summed info arrays).
    """
    if int(n_seeds) != n_seeds or n_seeds < 2:
        raise ValueError(f"n_seeds: expected a whole number >= 2, found {n_seeds}")
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, found {kind!r}")
    runs = run_episodes(act, make_venv(int(n_seeds)), seed, warmup)
    values = runs["reward"] if kind == "reward" else -runs["reward"]
    if per_period:
        if (runs["steps"] == 0).any():
            raise ValueError(f"warmup: {warmup} steps leave no counted step in some episode")
        values = values / runs["steps"]
    out = ratio_interval(values, oracle, kind)
    out.update({"values": values.tolist(), "seed": int(seed), "warmup": int(warmup),
                "info": {k: float(v.mean()) for k, v in runs["info"].items()}})
    return out


def sb3_actor(model: Any, vec_normalize: Any = None, deterministic: bool = True) -> Actor:
    """A stable-baselines3 model as an ``act(obs)`` callable.

    :param model: a trained SB3 algorithm (``PPO``, ``MaskablePPO``, ...).
    :param vec_normalize: the training ``VecNormalize`` wrapper, whose observation statistics are applied (frozen).
    :param deterministic: take the mode of the action distribution.
    """
    if not hasattr(model, "predict"):
        raise ValueError(f"model: expected a stable-baselines3 model with predict(), found {type(model).__name__}")

    def act(obs: np.ndarray) -> np.ndarray:
        x = vec_normalize.normalize_obs(obs) if vec_normalize is not None else obs
        actions, _ = model.predict(x, deterministic=deterministic)
        return actions

    return act
