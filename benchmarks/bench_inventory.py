"""Inventory decision-quality records (``retailrl bench policies``): PPO on the shipped inventory configs against
the exact base-stock optimum (backorders) and value iteration (lost sales, Zipkin 2008), with baselines.

Both RL records train ``configs/inventory_*.toml`` through :func:`agents.train.run_training`, the path
``retailrl train`` takes; ``benchmarks/bench_inventory_seeds.py`` repeats them over training seeds.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from agents.evaluate import MIN_EVAL_SEEDS, evaluate_policy, sb3_actor
from benchmarks._records import EVAL_SEED, TRAIN_SEED, log, record, strip_values

LOSTSALES_PUBLISHED = 4.73  # Zipkin (2008), Poisson(5), L = 4, h = 1, p = 4


def _inventory_venv_factory(params: Any, action_mode: str, horizon: int, **kwargs: Any) -> Callable[[int], Any]:
    from envs.inventory_vector import InventoryVectorEnv

    return lambda n: InventoryVectorEnv(n, params, action_mode=action_mode, horizon=horizon, **kwargs)


def _policy_env_kwargs(config: Any) -> dict[str, Any]:
    """The env arguments the trained policy's observations and actions depend on (for its evaluation envs)."""
    return {k: config.env.kwargs[k] for k in ("observation", "action_type") if k in config.env.kwargs}


CONFIGS = Path(__file__).resolve().parents[1] / "configs"
BACKORDER_CONFIG = CONFIGS / "inventory_backorder_ppo.toml"
"""The config ``inventory_backorder_ppo`` trains (its comments say why each setting)."""
LOSTSALES_CONFIG = CONFIGS / "inventory_lostsales_ppo.toml"
"""The config ``inventory_lostsales_rl`` trains (its comments say why each setting)."""


def _inventory_run_config(config_path: Path, steps: int | None, seed: int, overrides: dict | None = None) -> Any:
    """A shipped inventory config with ``seed``, ``steps`` and ``overrides`` (for tuning sweeps): keys ``env.X``
    set env argument X, dotted keys ``a.b`` set ``hyperparams[a][b]``, the others set hyper-parameters."""
    from dataclasses import replace

    from agents.run_config import RunConfig

    hyperparams: dict[str, Any] = {}
    env_kwargs: dict[str, Any] = {}
    config = RunConfig.from_toml(config_path)
    for key, value in (overrides or {}).items():
        if key.startswith("env."):
            env_kwargs[key[4:]] = value
        elif "." in key:
            outer, inner = key.split(".", 1)
            hyperparams[outer] = {**config.hyperparams.get(outer, {}), **hyperparams.get(outer, {}), inner: value}
        else:
            hyperparams[key] = value
    config = config.with_overrides(steps=steps, seed=seed, device="cpu", register=False,
                                   hyperparams=hyperparams or None)
    if env_kwargs:
        config.env = replace(config.env, kwargs={**config.env.kwargs, **env_kwargs})
        config.validate()
    return config


def _train_inventory_ppo(config: Any) -> tuple[Any, Any]:
    """Train an inventory config through :func:`agents.train.run_training` (the path ``retailrl train`` takes);
    returns ``(model, vecnormalize)``."""
    from agents.train import run_training

    with tempfile.TemporaryDirectory() as tmp:
        result = run_training(config, progress=False, run_dir=Path(tmp) / "run")
    return result.model, result.vecnormalize


def _config_params(config: Any) -> Any:
    from agents.train import env_kwargs

    return env_kwargs(config)["params"]


def inventory_backorder_record(quick: bool, seed: int = TRAIN_SEED, overrides: dict | None = None,
                               eval_seed: int = EVAL_SEED) -> dict:
    """``inventory_backorder_ppo``: PPO with order-up-to actions vs the exact base-stock optimum (S* = 37).

    :param seed: the training seed; ``overrides``: of the config (for tuning sweeps; see
        :func:`_inventory_run_config`); ``eval_seed``: the evaluation seed (sweeps tune on another).
    """
    from agents.baselines_inventory import BaseStockPolicy, lead_time_cost, tune_base_stock, tune_s_S

    config = _inventory_run_config(BACKORDER_CONFIG, 4096 if quick else None, seed, overrides)
    steps = config.steps
    params = _config_params(config)
    levels, oracle = tune_base_stock(params)
    horizon, warmup = (200 if quick else 1000), 20
    mean = float(params.demand_mean.max())
    mode = config.env.kwargs.get("action_mode", "quantity")
    if mode != "order_up_to":
        raise ValueError(f"{BACKORDER_CONFIG.name}: env.kwargs.action_mode must be 'order_up_to' (the record is PPO "
                         f"with order-up-to actions), found {mode!r}")
    make = _inventory_venv_factory(params, mode, horizon)
    make_policy_env = _inventory_venv_factory(params, mode, horizon, **_policy_env_kwargs(config))
    log(f"inventory_backorder_ppo: PPO, {steps} env steps, seed {seed}")
    start = time.perf_counter()
    model, vecnormalize = _train_inventory_ppo(config)
    act = sb3_actor(model, vecnormalize)
    result = evaluate_policy(act, make_policy_env, seed=eval_seed, oracle=oracle, kind="cost", per_period=True,
                             warmup=warmup)
    seconds = round(time.perf_counter() - start, 1)
    first_env = make_policy_env(MIN_EVAL_SEEDS)
    chosen = np.asarray(act(first_env.reset(seed=eval_seed)[0]))
    if first_env.config.action_type == "continuous":
        chosen = first_env.config.integer_actions(chosen)
    level = int(np.bincount(chosen.reshape(-1)).argmax())
    base = evaluate_policy(BaseStockPolicy(levels, 1, params.lead_time), make, seed=eval_seed, oracle=oracle,
                           kind="cost", per_period=True, warmup=warmup)
    h, b = float(params.holding_cost.max()), float(params.backorder_cost.max())
    s, big_s, ss_cost = tune_s_S(mean, params.lead_time, h, b)
    target = 1 / 1.01
    return record("inventory_backorder_ppo", result, target, bool(result["ratio"] >= target), algorithm="PPO",
                   action_mode="order_up_to", demand=f"Poisson({mean:g})", lead_time=params.lead_time, holding_cost=h,
                   backorder_cost=b, oracle_level=int(levels[0]), train_steps=steps, train_seed=seed,
                   eval_horizon=horizon, eval_warmup=warmup, value_unit="cost per period", seconds=seconds,
                   config=BACKORDER_CONFIG.name, ppo=config.hyperparams, env_kwargs=config.env.kwargs,
                   ppo_initial_level=level,
                   ppo_initial_level_exact_cost=float(lead_time_cost([level], mean, params.lead_time, h, b)[0]),
                   variants={f"base_stock_{int(levels[0])}_simulated": strip_values(base), "s_S_exact": {"s": s, "S": big_s, "cost": ss_cost}})


def lostsales_records(quick: bool, seed: int = TRAIN_SEED, overrides: dict | None = None,
                      eval_seed: int = EVAL_SEED) -> list[dict]:
    """``inventory_lostsales_vi`` and ``inventory_lostsales_rl`` (Zipkin 2008, L = 4, p = 4), myopic baseline.

    :param seed: the training seed; ``overrides``: of the config (for tuning sweeps; see
        :func:`_inventory_run_config`); ``eval_seed``: the evaluation seed (sweeps tune on another).
    """
    from agents.baselines_inventory import BaseStockPolicy, LostSalesTablePolicy, myopic_lost_sales
    from envs.defaults import zipkin_lost_sales_params
    from envs.lost_sales import lost_sales_optimal

    params = zipkin_lost_sales_params()
    config = _inventory_run_config(LOSTSALES_CONFIG, 4096 if quick else None, seed, overrides)
    if _config_params(config).to_dict() != params.to_dict():
        raise ValueError(f"{LOSTSALES_CONFIG.name}: [env.params.inventory] is not Zipkin's instance "
                         "(envs.defaults.zipkin_lost_sales_params); the record compares against that instance")
    lead = params.lead_time
    horizon, warmup = (300 if quick else 2000), 20
    make = _inventory_venv_factory(params, "quantity", horizon)  # the baselines order quantities
    start = time.perf_counter()
    sol = lost_sales_optimal(5.0, lead, 1.0, 4.0)
    vi_seconds = round(time.perf_counter() - start, 1)
    vi_sim = evaluate_policy(LostSalesTablePolicy(sol.policy), make, seed=eval_seed, oracle=LOSTSALES_PUBLISHED,
                             kind="cost", per_period=True, warmup=warmup)
    vi = {"value": sol.average_cost, "oracle": LOSTSALES_PUBLISHED, "ratio": LOSTSALES_PUBLISHED / sol.average_cost,
          "ci": vi_sim["ci"], "n_seeds": vi_sim["n_seeds"]}
    instance = {"demand": "Poisson(5)", "lead_time": lead, "holding_cost": 1.0, "lost_sale_cost": 4.0}
    vi_record = record("inventory_lostsales_vi", vi, LOSTSALES_PUBLISHED / (LOSTSALES_PUBLISHED + 0.02),
                        bool(abs(sol.average_cost - LOSTSALES_PUBLISHED) <= 0.02), algorithm="relative value iteration",
                        **instance, tolerance=0.02, vi_bounds=[sol.lower, sol.upper], vi_iterations=sol.iterations,
                        seconds=vi_seconds, ci_note="ci: the VI policy simulated in the env over the evaluation seeds",
                        simulated_cost=strip_values(vi_sim)["value"], value_unit="average cost per period (exact)")
    myopic = myopic_lost_sales(5.0, lead, 1.0, 4.0)
    myopic_sim = evaluate_policy(LostSalesTablePolicy(myopic.policy), make, seed=eval_seed, oracle=sol.average_cost,
                                 kind="cost", per_period=True, warmup=warmup)
    base_sim = evaluate_policy(BaseStockPolicy(sol.base_stock_level, 1, lead, "quantity", make(1).config.max_action),
                               make, seed=eval_seed, oracle=sol.average_cost, kind="cost", per_period=True, warmup=warmup)
    steps = config.steps
    log(f"inventory_lostsales_rl: PPO, {steps} env steps, seed {seed}")
    start = time.perf_counter()
    model, vecnormalize = _train_inventory_ppo(config)
    mode = config.env.kwargs.get("action_mode", "quantity")
    make_policy_env = _inventory_venv_factory(params, mode, horizon, **_policy_env_kwargs(config))
    rl = evaluate_policy(sb3_actor(model, vecnormalize), make_policy_env, seed=eval_seed, oracle=sol.average_cost,
                         kind="cost", per_period=True, warmup=warmup)
    target = 1 / 1.03
    rl_record = record("inventory_lostsales_rl", rl, target, bool(rl["ratio"] >= target), algorithm="PPO",
                        action_mode=mode, **instance, oracle_source="value iteration (inventory_lostsales_vi)",
                        train_steps=steps, train_seed=seed, eval_horizon=horizon, eval_warmup=warmup,
                        value_unit="cost per period", config=LOSTSALES_CONFIG.name, ppo=config.hyperparams,
                        env_kwargs=config.env.kwargs,
                        seconds=round(time.perf_counter() - start, 1), variants={
                            "myopic_exact": {"value": myopic.average_cost, "ratio": sol.average_cost / myopic.average_cost},
                            "myopic_simulated": strip_values(myopic_sim),
                            "best_base_stock_exact": {"level": sol.base_stock_level, "value": sol.base_stock_cost,
                                                      "ratio": sol.average_cost / sol.base_stock_cost},
                            "best_base_stock_simulated": strip_values(base_sim)})
    return [vi_record, rl_record]
