"""Time the native vector environments beside gymnasium's CartPoleVectorEnv (used by ``retailrl bench env`` and
``benchmarks/bench_env.py``).

Actions are drawn up front from each action space seeded with ``seed`` (a pool of ``ACTION_POOL`` batches cycled
through), so the timings measure ``step`` alone, for every environment alike. Reports sub-environment steps/s, the
ratio to CartPoleVectorEnv measured in the same run, and single-environment steps/s (unwrapped env, resets included).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

ACTION_POOL = 16
ROUNDS = 5
IDS = ("retailrl/AdAllocation-v0", "retailrl/Pricing-v0", "retailrl/Inventory-v0")
GOAL_VECTOR_RATIO = 0.25
GOAL_SINGLE_STEPS = 20_000


def _sample_pool(space: Any, seed: int) -> list[Any]:
    space.seed(seed)
    return [space.sample() for _ in range(ACTION_POOL)]


def _time_steps(step: Callable[[Any], Any], pool: list[Any], n_steps: int) -> float:
    """Seconds for ``n_steps`` calls of ``step`` (one round; call ``_warm`` first)."""
    start = time.perf_counter()
    for i in range(n_steps):
        step(pool[i % ACTION_POOL])
    return time.perf_counter() - start


def _warm(step: Callable[[Any], Any], pool: list[Any]) -> None:
    for a in pool[:4]:
        step(a)


def _paired(step_a: Callable[[Any], Any], pool_a: list[Any], step_b: Callable[[Any], Any], pool_b: list[Any],
            n_steps: int, rounds: int = ROUNDS) -> tuple[float, float]:
    """Best seconds of ``a`` and of ``b`` over ``rounds`` interleaved rounds (so both meet the same machine load)."""
    _warm(step_a, pool_a)
    _warm(step_b, pool_b)
    best_a = best_b = np.inf
    for _ in range(rounds):
        best_a = min(best_a, _time_steps(step_a, pool_a, n_steps))
        best_b = min(best_b, _time_steps(step_b, pool_b, n_steps))
    return float(best_a), float(best_b)


def bench_vector(env_id: str, num_envs: int, n_steps: int, seed: int = 0) -> tuple[float, float]:
    """Sub-environment steps/s of ``env_id``'s native vector env and of CartPoleVectorEnv, timed interleaved."""
    import gymnasium as gym
    from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv

    venv = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point")
    venv.reset(seed=seed)
    cartpole = CartPoleVectorEnv(num_envs=num_envs)
    cartpole.reset(seed=seed)
    env_s, cart_s = _paired(venv.step, _sample_pool(venv.action_space, seed), cartpole.step,
                            _sample_pool(cartpole.action_space, seed), n_steps)
    venv.close()
    return num_envs * n_steps / env_s, num_envs * n_steps / cart_s


def bench_single(env_id: str, n_steps: int, seed: int = 0) -> float:
    """Steps per second of the scalar env (unwrapped: gymnasium's checker wrappers excluded), resets included."""
    import gymnasium as gym

    import envs  # noqa: F401

    env = gym.make(env_id).unwrapped
    env.reset(seed=seed)

    def step(action: Any) -> None:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()

    pool = _sample_pool(env.action_space, seed)
    _warm(step, pool)
    return n_steps / min(_time_steps(step, pool, n_steps) for _ in range(ROUNDS))


def run(num_envs: int = 4096, vector_steps: int = 200, single_steps: int = 20_000, seed: int = 0) -> dict[str, Any]:
    """Time everything; returns a JSON-ready dict (``envs``: per id, ``cartpole_vector_steps_per_s``, goals).

    Each vector env is timed in rounds interleaved with CartPoleVectorEnv (best round of each), and its ratio is
    to that paired CartPole rate, so both meet the same load on a shared machine.
    """
    rows: dict[str, dict[str, float]] = {}
    for env_id in IDS:
        vec, cartpole = bench_vector(env_id, num_envs, vector_steps, seed)
        rows[env_id] = {"vector_steps_per_s": vec, "cartpole_vector_steps_per_s": cartpole,
                        "ratio_to_cartpole": vec / cartpole,
                        "single_steps_per_s": bench_single(env_id, single_steps, seed)}
    return {"num_envs": num_envs, "vector_steps": vector_steps, "single_steps": single_steps,
            "cartpole_vector_steps_per_s": max(r["cartpole_vector_steps_per_s"] for r in rows.values()),
            "envs": rows,
            "goals": {"vector_ratio_to_cartpole": GOAL_VECTOR_RATIO, "single_steps_per_s": GOAL_SINGLE_STEPS,
                      "vector_goal_applies_to": list(IDS[:2])}}
