"""Decision-quality benchmarks: every trained policy and baseline against its env's oracle (`retailrl bench policies`).

Run: ``.venv/bin/python -m benchmarks.bench_policies [--only NAME ...] [--quick]``; prints a JSON list, one record
per benchmark: ``name``, ``value``, ``oracle``, ``ratio`` (value / oracle for rewards, oracle / value for costs;
1.0 is the oracle), ``ci`` (95% interval of the ratio over >= 30 evaluation seeds), ``target`` (the floor of the
ratio unless ``target_on`` says otherwise), ``met``, the instance's parameters, and under ``variants`` the
baselines on the same evaluation seeds. ``--quick`` runs tiny training budgets (for tests): its numbers are
finite but its targets are not expected to be met.

RL records train on the CPU with one torch thread and a bounded number of env steps (``train_steps``): the
inventory records train the shipped configs through ``agents.train.run_training`` (:mod:`benchmarks.bench_inventory`),
the pacing record the pacers of ``agents/pacing_rl.py``, the speed record PPO on the native vector env.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from agents.evaluate import MIN_EVAL_SEEDS, evaluate_policy, ratio_interval
from benchmarks._records import EVAL_SEED, TRAIN_SEED, log, record
from benchmarks.bench_inventory import inventory_backorder_record, lostsales_records


def _ppo(venv: Any, seed: int, **kwargs: Any):
    import torch
    from stable_baselines3 import PPO

    torch.set_num_threads(1)
    venv.seed(seed)
    return PPO("MlpPolicy", venv, seed=seed, device="cpu", verbose=0, **kwargs)


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
    log(f"pricing_scanner: UCB over {n_levels}^{demand.n_products} price vectors, {periods} periods x 30 runs")
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
    return record("pricing_scanner", result, 0.97, bool(result["ratio"] >= 0.97), algorithm="grid_ucb",
                   panel=panel, products=demand.product_names, n_price_levels=n_levels, train_periods=periods,
                   oracle_prices=opt_prices.tolist(), value_unit="expected profit per period (exact, per learned run)",
                   seconds=round(time.perf_counter() - start, 1), variants=variants)


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
    log(f"ads_bandit_obd: Thompson sampling per segment, {n_days} days x {arrivals} arrivals x 30 runs")
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
    return record("ads_bandit_obd", result, 0.90, bool(result["ratio"] >= 0.90),
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
        StaticThresholdPacing,
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
    log(f"ads_pacing_rl: PPO threshold pacer, {days} days ({days * arrivals // block} agent steps)")
    rl = train_threshold_ppo(params, budget, arrivals, days, seed=TRAIN_SEED, block=block)
    rl_seconds = time.perf_counter() - start
    exported_matches = _pacer_export_matches(rl)
    log(f"ads_pacing_rl: PPO serve/skip pacer, {serve_skip_steps} env steps")
    serve_skip = train_pacing_ppo(params, budget, arrivals, serve_skip_steps, seed=TRAIN_SEED)
    serve_skip_seconds = time.perf_counter() - start - rl_seconds
    threshold = lp_threshold(params, budget, arrivals)
    cmp = compare_pacing({"rl": rl, "ppo_serve_skip": serve_skip, "linear": LinearPacing(arrivals),
                          "greedy": GreedyPacing(), "lp_threshold": StaticThresholdPacing(threshold)},
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
    return record("ads_pacing_rl", result, 1.10, met,
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
    model = _ppo(venv, TRAIN_SEED, n_steps=256, batch_size=256, n_epochs=10)
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
        log(f"{fn}: {time.perf_counter() - start:.1f} s")
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
