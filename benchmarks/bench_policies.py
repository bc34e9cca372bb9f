"""Decision-quality benchmarks: every trained policy and baseline against its env's oracle (`retailrl bench policies`).

Run: ``.venv/bin/python -m benchmarks.bench_policies [--only NAME ...] [--quick]``; prints a JSON list, one record
per benchmark: ``name``, ``value``, ``oracle``, ``ratio`` (value / oracle for rewards, oracle / value for costs;
1.0 is the oracle), ``ci`` (95% interval of the ratio over >= 30 evaluation seeds), ``target`` (the floor of the
ratio unless ``target_on`` says otherwise), ``met``, the instance's parameters, and under ``variants`` the
baselines on the same evaluation seeds. ``--quick`` runs tiny training budgets (for tests): its numbers are
finite but its targets are not expected to be met.

RL records train PPO (stable-baselines3) directly on the native vector envs through :class:`envs.sb3_vec_env.SB3VecEnv`,
with a bounded number of env steps (in the record as ``train_steps``), on the CPU with one torch thread.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from agents.evaluate import MIN_EVAL_SEEDS, evaluate_policy, ratio_interval, sb3_actor

EVAL_SEED = 1_000_003
TRAIN_SEED = 7
LOSTSALES_PUBLISHED = 4.73  # Zipkin (2008), Poisson(5), L = 4, h = 1, p = 4


def _log(message: str) -> None:
    print(f"[bench_policies] {message}", file=sys.stderr, flush=True)


def _record(name: str, result: dict[str, Any], target: float | None, met: bool | None, **params: Any) -> dict:
    return {"name": name, "value": result["value"], "oracle": result["oracle"], "ratio": result["ratio"],
            "ci": result["ci"], "target": target, "met": met, "n_eval_seeds": result.get("n_seeds"), **params}


def _ppo(venv: Any, seed: int, normalize: bool, **kwargs: Any):
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecNormalize

    torch.set_num_threads(1)
    venv.seed(seed)
    env = VecNormalize(venv, norm_obs=normalize, norm_reward=True, gamma=kwargs.get("gamma", 0.99)) if normalize else venv
    model = PPO("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **kwargs)
    return model, env


# ----------------------------------------------------------------------------------------------- pricing


def pricing_ts_record(horizon: int, quick: bool) -> dict:
    """``pricing_ts_lp_T{horizon}``: :func:`benchmarks.bench_pricing_ts.pricing_record` (30 seeds when quick)."""
    from benchmarks.bench_pricing_ts import DEFAULT_SEEDS, pricing_record

    return pricing_record(horizon, MIN_EVAL_SEEDS if quick else DEFAULT_SEEDS)


def _scanner_demand(fit_dir: Path, panel: str):
    from envs.fit import fit_source
    from envs.params import DemandParams

    fidelity = fit_source(panel, fit_dir)
    if not fidelity.get("params_written", True):
        raise ValueError(f"{panel}: the fit wrote no params.json: {fidelity.get('params_error')}")
    return DemandParams.from_fit_dir(fit_dir)


def _grid_index_vectors(n_products: int, n_levels: int) -> np.ndarray:
    """Every grid-index vector, shape ``(n_levels ** n_products, n_products)``."""
    return np.indices((n_levels,) * n_products).reshape(n_products, -1).T


def grid_ucb_pricing(demand: Any, n_levels: int, periods: int, n_runs: int, seed: int) -> dict[str, Any]:
    """UCB1 over every price vector of the grid, run on the Pricing vector env (one run per sub-env).

    Each period every run picks the price vector with the highest ``mean + scale * sqrt(2 log t / n)`` (untried
    first; ``scale`` is the profit's standard deviation estimated from the run's own observations), observes the
    period's profit and updates. The learned policy is the vector with the highest sample mean.

    :return: ``learned_index`` ``(n_runs, N)`` grid indexes, ``mean_profit`` (per period, over learning).
    """
    from envs.pricing_vector import PricingVectorEnv

    vectors = _grid_index_vectors(demand.n_products, n_levels)  # (V, N)
    n_vec = vectors.shape[0]
    env = PricingVectorEnv(n_runs, demand, n_price_levels=n_levels, horizon=periods)
    env.reset(seed=seed)
    counts = np.zeros((n_runs, n_vec))
    sums = np.zeros((n_runs, n_vec))
    sq = np.zeros(n_runs)
    total = np.zeros(n_runs)
    rows = np.arange(n_runs)
    for t in range(1, periods + 1):
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = sums / counts
            sd = np.sqrt(np.maximum(sq / t - (total / t) ** 2, 1e-12))[:, None] if t > 1 else np.ones((n_runs, 1))
            index = np.where(counts > 0, mean + sd * np.sqrt(2 * math.log(t) / counts), np.inf)
        choice = np.argmax(index, axis=1)
        _, reward, _, _, _ = env.step(vectors[choice])
        counts[rows, choice] += 1
        sums[rows, choice] += reward
        sq += reward**2
        total += reward
    with np.errstate(divide="ignore", invalid="ignore"):
        best = np.argmax(np.where(counts > 0, sums / counts, -np.inf), axis=1)
    return {"learned_index": vectors[best], "mean_profit": total / periods}


def pricing_scanner_record(quick: bool, panel: str = "cracker") -> dict:
    """``pricing_scanner``: a UCB bandit over the price grid on the simulator fit from a scanner panel, against the
    oracle's optimal static (continuous, bounded) prices."""
    from envs.oracles import expected_profit, optimal_static_prices

    n_levels, periods = 5, (2000 if quick else 30_000)
    with tempfile.TemporaryDirectory() as tmp:
        demand = _scanner_demand(Path(tmp), panel)
    opt_prices, opt_profit = optimal_static_prices(demand)
    grid = demand.price_grid(n_levels)
    _log(f"pricing_scanner: UCB over {n_levels}^{demand.n_products} price vectors, {periods} periods x 30 runs")
    start = time.perf_counter()
    run = grid_ucb_pricing(demand, n_levels, periods, MIN_EVAL_SEEDS, EVAL_SEED)
    learned_prices = grid[np.arange(demand.n_products), run["learned_index"]]  # (runs, N)
    values = expected_profit(demand, learned_prices)
    result = ratio_interval(values, opt_profit)
    cols = np.arange(demand.n_products)
    all_vectors = grid[cols, _grid_index_vectors(demand.n_products, n_levels)]
    mid = (demand.price_low + demand.price_high) / 2
    variants = {
        "best_grid_vector": {"ratio": float(expected_profit(demand, all_vectors).max() / opt_profit)},
        "uniform_random_grid": {"ratio": float(expected_profit(demand, all_vectors).mean() / opt_profit)},
        "fixed_mid_range_price": {"ratio": float(expected_profit(demand, mid) / opt_profit)},
        "ucb_learning_average": ratio_interval(run["mean_profit"], opt_profit),
    }
    return _record("pricing_scanner", result, 0.97, bool(result["ratio"] >= 0.97), algorithm="grid_ucb",
                   panel=panel, products=demand.product_names, n_price_levels=n_levels, train_periods=periods,
                   oracle_prices=opt_prices.tolist(), value_unit="expected profit per period (exact, per learned run)",
                   seconds=round(time.perf_counter() - start, 1), variants=variants)


# ----------------------------------------------------------------------------------------------- inventory


def _inventory_venv_factory(params: Any, action_mode: str, horizon: int, **kwargs: Any) -> Callable[[int], Any]:
    from envs.inventory_vector import InventoryVectorEnv

    return lambda n: InventoryVectorEnv(n, params, action_mode=action_mode, horizon=horizon, **kwargs)


def _policy_env_kwargs(config: Any) -> dict[str, Any]:
    """The env arguments the trained policy's observations and actions depend on (for its evaluation envs)."""
    return {k: config.env.kwargs[k] for k in ("observation", "action_type") if k in config.env.kwargs}


CONFIGS = Path(__file__).resolve().parents[1] / "configs"
BACKORDER_CONFIG = CONFIGS / "inventory_backorder_ppo.toml"
"""PPO for ``inventory_backorder_ppo`` as shipped: scaled observation, learning rate decaying linearly to 0, and,
because with order-up-to actions an action's cost shows L = 2 periods later, a short discount (0.9)."""
LOSTSALES_CONFIG = CONFIGS / "inventory_lostsales_ppo.toml"
"""PPO for ``inventory_lostsales_rl`` as shipped: a little entropy keeps PPO from settling on a near-constant order
quantity (a local optimum around 5.245 per period)."""


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
    from agents.run_config import RunConfig

    steps = 4096 if quick else RunConfig.from_toml(BACKORDER_CONFIG).steps
    config = _inventory_run_config(BACKORDER_CONFIG, steps, seed, overrides)
    params = _config_params(config)
    levels, oracle = tune_base_stock(params)
    horizon, warmup = (200 if quick else 1000), 20
    mean = float(params.demand_mean.max())
    make = _inventory_venv_factory(params, "order_up_to", horizon)
    make_policy_env = _inventory_venv_factory(params, "order_up_to", horizon, **_policy_env_kwargs(config))
    _log(f"inventory_backorder_ppo: PPO, {steps} env steps, seed {seed}")
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
    return _record("inventory_backorder_ppo", result, target, bool(result["ratio"] >= target), algorithm="PPO",
                   action_mode="order_up_to", demand=f"Poisson({mean:g})", lead_time=params.lead_time, holding_cost=h,
                   backorder_cost=b, oracle_level=int(levels[0]), train_steps=steps, train_seed=seed,
                   eval_horizon=horizon, eval_warmup=warmup, value_unit="cost per period", seconds=seconds,
                   config=BACKORDER_CONFIG.name, ppo=config.hyperparams, env_kwargs=config.env.kwargs,
                   ppo_initial_level=level,
                   ppo_initial_level_exact_cost=float(lead_time_cost([level], mean, params.lead_time, h, b)[0]),
                   variants={"base_stock_37_simulated": _strip(base), "s_S_exact": {"s": s, "S": big_s, "cost": ss_cost}})


def _strip(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "values"}


def lostsales_records(quick: bool, seed: int = TRAIN_SEED, overrides: dict | None = None,
                      eval_seed: int = EVAL_SEED) -> list[dict]:
    """``inventory_lostsales_vi`` and ``inventory_lostsales_rl`` (Zipkin 2008, L = 4, p = 4), myopic baseline.

    :param seed: the training seed; ``overrides``: of the config (for tuning sweeps; see
        :func:`_inventory_run_config`); ``eval_seed``: the evaluation seed (sweeps tune on another).
    """
    from agents.baselines_inventory import BaseStockPolicy, LostSalesTablePolicy, myopic_lost_sales
    from agents.run_config import RunConfig
    from envs.defaults import zipkin_lost_sales_params
    from envs.lost_sales import lost_sales_optimal

    params = zipkin_lost_sales_params()
    config = RunConfig.from_toml(LOSTSALES_CONFIG)
    if _config_params(config).to_dict() != params.to_dict():
        raise ValueError(f"{LOSTSALES_CONFIG.name}: [env.params.inventory] is not Zipkin's instance "
                         "(envs.defaults.zipkin_lost_sales_params); the record compares against that instance")
    lead = params.lead_time
    horizon, warmup = (300 if quick else 2000), 20
    make = _inventory_venv_factory(params, "quantity", horizon)
    start = time.perf_counter()
    sol = lost_sales_optimal(5.0, lead, 1.0, 4.0)
    vi_seconds = round(time.perf_counter() - start, 1)
    vi_sim = evaluate_policy(LostSalesTablePolicy(sol.policy), make, seed=eval_seed, oracle=LOSTSALES_PUBLISHED,
                             kind="cost", per_period=True, warmup=warmup)
    vi = {"value": sol.average_cost, "oracle": LOSTSALES_PUBLISHED, "ratio": LOSTSALES_PUBLISHED / sol.average_cost,
          "ci": vi_sim["ci"], "n_seeds": vi_sim["n_seeds"]}
    instance = {"demand": "Poisson(5)", "lead_time": lead, "holding_cost": 1.0, "lost_sale_cost": 4.0}
    vi_record = _record("inventory_lostsales_vi", vi, LOSTSALES_PUBLISHED / (LOSTSALES_PUBLISHED + 0.02),
                        bool(abs(sol.average_cost - LOSTSALES_PUBLISHED) <= 0.02), algorithm="relative value iteration",
                        **instance, tolerance=0.02, vi_bounds=[sol.lower, sol.upper], vi_iterations=sol.iterations,
                        seconds=vi_seconds, ci_note="ci: the VI policy simulated in the env over the evaluation seeds",
                        simulated_cost=_strip(vi_sim)["value"], value_unit="average cost per period (exact)")
    myopic = myopic_lost_sales(5.0, lead, 1.0, 4.0)
    myopic_sim = evaluate_policy(LostSalesTablePolicy(myopic.policy), make, seed=eval_seed, oracle=sol.average_cost,
                                 kind="cost", per_period=True, warmup=warmup)
    base_sim = evaluate_policy(BaseStockPolicy(sol.base_stock_level, 1, lead, "quantity", make(1).config.max_action),
                               make, seed=eval_seed, oracle=sol.average_cost, kind="cost", per_period=True, warmup=warmup)
    steps = 4096 if quick else config.steps
    _log(f"inventory_lostsales_rl: PPO, {steps} env steps, seed {seed}")
    start = time.perf_counter()
    config = _inventory_run_config(LOSTSALES_CONFIG, steps, seed, overrides)
    model, vecnormalize = _train_inventory_ppo(config)
    make_policy_env = _inventory_venv_factory(params, "quantity", horizon, **_policy_env_kwargs(config))
    rl = evaluate_policy(sb3_actor(model, vecnormalize), make_policy_env, seed=eval_seed, oracle=sol.average_cost,
                         kind="cost", per_period=True, warmup=warmup)
    target = 1 / 1.03
    rl_record = _record("inventory_lostsales_rl", rl, target, bool(rl["ratio"] >= target), algorithm="PPO",
                        action_mode="quantity", **instance, oracle_source="value iteration (inventory_lostsales_vi)",
                        train_steps=steps, train_seed=seed, eval_horizon=horizon, eval_warmup=warmup,
                        value_unit="cost per period", config=LOSTSALES_CONFIG.name, ppo=config.hyperparams,
                        env_kwargs=config.env.kwargs,
                        seconds=round(time.perf_counter() - start, 1), variants={
                            "myopic_exact": {"value": myopic.average_cost, "ratio": sol.average_cost / myopic.average_cost},
                            "myopic_simulated": _strip(myopic_sim),
                            "best_base_stock_exact": {"level": sol.base_stock_level, "value": sol.base_stock_cost,
                                                      "ratio": sol.average_cost / sol.base_stock_cost},
                            "best_base_stock_simulated": _strip(base_sim)})
    return [vi_record, rl_record]


# ----------------------------------------------------------------------------------------------- ads


def ads_bandit_record(quick: bool) -> dict:
    """``ads_bandit_obd``: a per-segment Thompson-sampling slate bandit on the AdAllocation env fit from the OBD
    sample, against the oracle's best slates (CTR = clicks per arrival)."""
    from agents.replay import ReplayPolicy
    from agents.slate_ts import SegmentThompsonSlates, segment_of
    from envs.ad_allocation_vector import AdAllocationVectorEnv
    from envs.fit import fit_source
    from envs.oracles import best_slates
    from envs.params import ClickParams
    from policies.policy import UniformPolicy
    from sim_data.sources.obd import load_obd

    with tempfile.TemporaryDirectory() as tmp:
        fit_source("obd", tmp)
        params = ClickParams.from_fit_dir(tmp)
    n_days, arrivals = (3 if quick else 300), 1000
    budget = 1e9  # the budget never binds: the oracle's best slates are the optimum
    oracle = best_slates(params)["expected_reward_per_arrival"]
    _log(f"ads_bandit_obd: Thompson sampling per segment, {n_days} days x {arrivals} arrivals x 30 runs")
    start = time.perf_counter()
    n_runs = MIN_EVAL_SEEDS
    env = AdAllocationVectorEnv(n_runs, params, budget, arrivals)
    obs, _ = env.reset(seed=TRAIN_SEED)
    rng = np.random.default_rng(TRAIN_SEED)
    learner = SegmentThompsonSlates(n_runs, params.n_contexts, params.n_items)
    features = params.context_features.astype(np.float32)
    slot_order = np.argsort(-params.position_bias, kind="stable")
    empty = params.n_items
    learn_clicks = 0.0
    for _ in range(n_days * arrivals):
        ctx = segment_of(obs[:, : features.shape[1]], features)
        items = learner.explore(ctx, rng)
        slate = np.full((n_runs, params.n_positions), empty)
        slate[:, slot_order[0]] = items
        obs, _, _, _, info = env.step(slate)
        learner.update(ctx, items, np.asarray(info["clicks"], dtype=np.float64))
        learn_clicks += float(np.mean(info["clicks"]))
    slates = learner.greedy_slates(params.n_positions, slot_order)  # (runs, C, K)
    ctr_per_context = (params.relevance[np.arange(params.n_contexts)[None, :, None], slates]
                       * params.position_bias[None, None, :]).sum(axis=2)
    mix = params.context_probs.mean(axis=0)
    values = ctr_per_context @ mix  # exact expected clicks per arrival of each run's learned policy
    result = ratio_interval(values, oracle)
    seconds = round(time.perf_counter() - start, 1)

    def per_arrival(act: Any) -> dict:
        r = evaluate_policy(act, lambda n: AdAllocationVectorEnv(n, params, budget, arrivals), seed=EVAL_SEED,
                            oracle=oracle * arrivals)
        return {"ratio": r["ratio"], "ci": r["ci"], "ctr_per_arrival": r["value"] / arrivals}

    replay = ReplayPolicy.from_log(load_obd(policy="bts", campaign="all"), seed=EVAL_SEED)
    uniform = ReplayPolicy(UniformPolicy(params.n_items, params.n_positions).action_dist(np.zeros((1, 1)))[0],
                           seed=EVAL_SEED)
    variants = {"replay_logging_policy_bts_simulated": per_arrival(replay),
                "uniform_random_simulated": per_arrival(uniform),
                "learning_phase_single_slot": {"ctr_per_arrival": learn_clicks / (n_days * arrivals),
                                               "ratio": learn_clicks / (n_days * arrivals) / oracle}}
    return _record("ads_bandit_obd", result, 0.90, bool(result["ratio"] >= 0.90),
                   algorithm="Thompson sampling per (segment, item), single-slot exploration, greedy slates",
                   source="obd sample, campaign all (fit on the random policy's logs)", n_contexts=params.n_contexts,
                   n_items=params.n_items, n_positions=params.n_positions, train_arrivals=n_days * arrivals,
                   value_unit="expected clicks per arrival of the learned policy (exact)", seconds=seconds,
                   relevance_range=[float(np.min(params.relevance)), float(np.max(params.relevance))],
                   relevance_spread_within_context=float(np.max(np.ptp(params.relevance, axis=1))),
                   note="relevance in this fit varies little across items within a context (relevance_spread_"
                        "within_context), so random slates are already close to the oracle; see the uniform_random "
                        "variant",
                   variants=variants)


def _pacer_export_matches(pacer: Any) -> bool:
    """Export the threshold pacer (``ThresholdPacer.export``), load it back through the policy interface and
    check that it picks the model's threshold on a grid of observations."""
    from policies.policy import Policy

    grid = np.stack(np.meshgrid(np.linspace(0, 2, 9), np.linspace(0, 1, 11), np.linspace(0, 1, 11)), -1)
    obs = grid.reshape(-1, 3).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        pacer.export(tmp)
        loaded = Policy.load(tmp)
        return bool(np.array_equal(loaded.predict(obs), pacer.model.predict(obs, deterministic=True)[0]))


def ads_pacing_record(quick: bool) -> dict:
    """``ads_pacing_rl``: RL pacing vs linear pacing under a daily budget (CPM pricing), zero overruns required.

    The RL pacer is PPO choosing a value threshold every 25 arrivals (:func:`agents.pacing_rl.train_threshold_ppo`);
    variants: PPO deciding serve/skip per arrival, linear and greedy pacing, the fluid LP's static threshold.
    ``met``: RL / linear clicks >= 1.10 for the ratio of means and for the lower end of the per-day ratio's 95%
    interval, zero overruns, and RL spending no more than linear pacing (+1% of the budget).
    """
    from agents.pacing import (
        GreedyPacing,
        LinearPacing,
        ThresholdPacing,
        compare_pacing,
        cpm_params,
        lp_threshold,
    )
    from agents.pacing_rl import train_pacing_ppo, train_threshold_ppo
    from envs.defaults import synthetic_click_params

    budget, arrivals, share, block = 100.0, 1000, 0.5, 25
    params = cpm_params(synthetic_click_params(), budget, arrivals, share)
    days, serve_skip_steps = (20, 4096) if quick else (3000, 1_500_000)
    n_seeds = MIN_EVAL_SEEDS if quick else 50
    start = time.perf_counter()
    _log(f"ads_pacing_rl: PPO threshold pacer, {days} days ({days * arrivals // block} agent steps)")
    rl = train_threshold_ppo(params, budget, arrivals, days, seed=TRAIN_SEED, block=block)
    rl_seconds = time.perf_counter() - start
    exported_matches = _pacer_export_matches(rl)
    _log(f"ads_pacing_rl: PPO serve/skip pacer, {serve_skip_steps} env steps")
    serve_skip = train_pacing_ppo(params, budget, arrivals, serve_skip_steps, seed=TRAIN_SEED)
    serve_skip_seconds = time.perf_counter() - start - rl_seconds
    threshold = lp_threshold(params, budget, arrivals)
    cmp = compare_pacing({"rl": rl, "ppo_serve_skip": serve_skip, "linear": LinearPacing(arrivals),
                          "greedy": GreedyPacing(), "lp_threshold": ThresholdPacing(threshold)},
                         params, budget, arrivals, n_seeds=n_seeds, seed=EVAL_SEED)
    linear_days = np.asarray(cmp["policies"]["linear"]["clicks_per_day"])
    variants = {}
    for name, v in cmp["policies"].items():
        gain = ratio_interval(np.asarray(v["clicks_per_day"]) / linear_days, 1.0)
        variants[name] = {k: vv for k, vv in v.items() if k != "clicks_per_day"} | {
            "over_linear": v["clicks"] / cmp["policies"]["linear"]["clicks"], "over_linear_ci": gain["ci"]}
    rl_v, lin_v = variants["rl"], variants["linear"]
    met = bool(rl_v["over_linear"] >= 1.10 and rl_v["over_linear_ci"][0] >= 1.10 and rl_v["overruns"] == 0
               and rl_v["spend_share"] <= lin_v["spend_share"] + 0.01)
    result = {"value": rl_v["clicks"], "oracle": cmp["oracle"], "ratio": rl_v["ratio"], "ci": rl_v["ratio_ci"],
              "n_seeds": n_seeds}
    variants["ppo_serve_skip"] |= {"train_steps": serve_skip_steps, "train_seconds": round(serve_skip_seconds, 1)}
    variants["lp_threshold"]["threshold"] = threshold
    return _record("ads_pacing_rl", result, 1.10, met,
                   algorithm=f"PPO choosing a value threshold every {block} arrivals (gamma 1, GAE 0.95)",
                   target_on="rl clicks / linear-pacing clicks (ratio of means and lower end of the per-day "
                             "ratio's 95% interval), zero overruns, rl spend <= linear spend",
                   gain_over_linear=rl_v["over_linear"], gain_ci=rl_v["over_linear_ci"], overruns=rl_v["overruns"],
                   spend_share_rl=rl_v["spend_share"], spend_share_linear=lin_v["spend_share"],
                   overruns_guard="env: a slate is served only if the remaining budget covers its worst-case cost",
                   instance="default click model (80 items, 8 segments, 4 day parts), CPM pricing, best slates",
                   budget=budget, arrivals_per_day=arrivals, serve_share=share,
                   cost_per_impression=float(params.cost_per_impression[0]), train_days=days,
                   train_steps=days * -(-arrivals // block), train_arrivals=days * arrivals, block=block,
                   train_seconds=round(rl_seconds, 1), train_seed=TRAIN_SEED, eval_seed=EVAL_SEED,
                   exported_policy_matches=exported_matches, oracle_kind="fluid LP bound on clicks per day", value_unit="clicks per day",
                   seconds=round(time.perf_counter() - start, 1), variants=variants)


# ----------------------------------------------------------------------------------------------- speed


def train_speed_record(quick: bool) -> dict:
    """``train_speed_ppo``: PPO on Pricing with 8 vector envs, env steps per second (wall clock)."""
    import gymnasium as gym

    import envs  # noqa: F401  (registers the envs)
    from envs.sb3_vec_env import SB3VecEnv

    steps = 8192 if quick else 65_536
    venv = SB3VecEnv(gym.make_vec("retailrl/Pricing-v0", num_envs=8, vectorization_mode="vector_entry_point"))
    model, _ = _ppo(venv, TRAIN_SEED, normalize=False, n_steps=256, batch_size=256, n_epochs=10)
    start = time.perf_counter()
    model.learn(total_timesteps=steps)
    rate = steps / (time.perf_counter() - start)
    import os

    return {"name": "train_speed_ppo", "value": rate, "oracle": None, "ratio": None, "ci": None, "target": 2000.0,
            "met": bool(rate >= 2000.0), "target_on": "env steps per second", "env": "retailrl/Pricing-v0",
            "num_envs": 8, "train_steps": steps, "torch_threads": 1, "cpu_count": os.cpu_count(),
            "n_steps": 256, "batch_size": 256, "n_epochs": 10,
            "note": "wall-clock on a shared machine; a benchmark figure, not a test"}


# ----------------------------------------------------------------------------------------------- main

BENCHMARKS: dict[str, Callable[[bool], list[dict] | dict]] = {
    "pricing_ts_lp_T1000": lambda quick: pricing_ts_record(1000, quick),
    "pricing_ts_lp_T10000": lambda quick: pricing_ts_record(10000, quick),
    "pricing_scanner": pricing_scanner_record,
    "inventory_backorder_ppo": inventory_backorder_record,
    "inventory_lostsales": lostsales_records,
    "ads_bandit_obd": ads_bandit_record,
    "ads_pacing_rl": ads_pacing_record,
    "train_speed_ppo": train_speed_record,
}
RECORD_NAMES = {
    "pricing_ts_lp_T1000": "pricing_ts_lp_T1000", "pricing_ts_lp_T10000": "pricing_ts_lp_T10000",
    "pricing_scanner": "pricing_scanner", "inventory_backorder_ppo": "inventory_backorder_ppo",
    "inventory_lostsales_vi": "inventory_lostsales", "inventory_lostsales_rl": "inventory_lostsales",
    "ads_bandit_obd": "ads_bandit_obd", "ads_pacing_rl": "ads_pacing_rl", "train_speed_ppo": "train_speed_ppo",
}
"""Every record name and the benchmark function that computes it."""


def compute_records(only: list[str] | None = None, quick: bool = False) -> list[dict]:
    """Compute the records named in ``only`` (all when ``None`` or empty), in the order of :data:`RECORD_NAMES`.

    :raises ValueError: for an unknown record name.
    """
    wanted = list(RECORD_NAMES) if not only else list(only)
    unknown = [n for n in wanted if n not in RECORD_NAMES]
    if unknown:
        raise ValueError(f"only: unknown record(s) {unknown}; expected some of {list(RECORD_NAMES)}")
    records: list[dict] = []
    done: set[str] = set()
    for name in RECORD_NAMES:
        fn = RECORD_NAMES[name]
        if name not in wanted or fn in done:
            continue
        done.add(fn)
        start = time.perf_counter()
        out = BENCHMARKS[fn](quick)
        _log(f"{fn}: {time.perf_counter() - start:.1f} s")
        records += [r for r in (out if isinstance(out, list) else [out]) if r["name"] in wanted]
    return records


def main(argv: list[str] | None = None) -> list[dict]:
    """Print the records as a JSON list and return them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", default=None, help=f"record names: {', '.join(RECORD_NAMES)}")
    parser.add_argument("--quick", action="store_true", help="tiny training budgets (for tests)")
    args = parser.parse_args(argv)
    records = compute_records(args.only, args.quick)
    print(json.dumps(records, indent=2, default=float))
    return records


if __name__ == "__main__":
    main()
