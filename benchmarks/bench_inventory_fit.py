"""A policy trained on an inventory simulator *fit from a stock log*, evaluated on the true world it was fit from.

Run: ``.venv/bin/python -m benchmarks.bench_inventory_fit [--quick] [--seed N] [--steps N]``.

1. The true world: Poisson(10) demand, an order placed after a period's sales is received 3 periods later
   (``Inventory-v0`` lead time 2), h = 1, b = 9 with backorders: the instance of
   ``configs/inventory_backorder_ppo.toml``, whose optimal base-stock level is S* = 37.
2. Its stock log: one year (365 periods) of a lost-sales shop running a base-stock policy set too low (the 0.5
   quantity of 3 periods' demand), so that many periods sell out; ``lost_sales`` not recorded.
3. Two simulators from that log: the censored fit (:func:`envs.fit_stock.fit_stock`) and the naive one (the mean
   of sales as demand); same lead time estimate, same costs.
4. On each: PPO trained with the shipped config (``env.sim_dir`` set, ``[env.params.inventory]`` removed) and the
   exact optimal base-stock level of the fitted parameters (the exact-optimiser reference).
5. All four evaluated on the true parameters over the same evaluation seeds; costs against the true optimal
   base-stock cost. PPO sees its observations scaled by the fitted mean, as it would when deployed (the true
   mean is unknown), and keeps its fitted simulator's action range.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from agents.evaluate import evaluate_policy, sb3_actor
from benchmarks._records import EVAL_SEED, TRAIN_SEED, strip_values
from benchmarks.bench_inventory import BACKORDER_CONFIG, _train_inventory_ppo

TRUE_MEAN, LOG_LAG, H, B = 10.0, 3, 1.0, 9.0
HORIZON, WARMUP = 1000, 20


def _log(message: str) -> None:
    print(f"[bench_inventory_fit] {message}", file=sys.stderr, flush=True)


def fitted_sims(root: Path, seed: int, n_periods: int = 365) -> dict[str, Any]:
    """Simulate the true world's stock log and write the censored and the naive simulator directories."""
    from envs.fit_stock import fit_stock
    from envs.models.stock_demand import StockDemandModel
    from envs.params import InventoryParams
    from sim_data.synthetic.stock_world import make_stock_world

    log, truth = make_stock_world(1, n_periods, seed, demand_mean=[TRUE_MEAN], lead_time=LOG_LAG, service_level=0.5)
    fidelity = fit_stock(log, root / "censored", holding_cost=H, backorder_cost=B, progress=_log)
    model = StockDemandModel().fit(log)
    model.to_params(holding_cost=H, backorder_cost=B, naive=True).to_json(root / "naive" / "params.json")
    true = InventoryParams(demand_mean=TRUE_MEAN, lead_time=LOG_LAG - 1, holding_cost=H, backorder_cost=B)
    return {"true": true, "censored": InventoryParams.from_fit_dir(root / "censored"),
            "naive": InventoryParams.from_fit_dir(root / "naive"), "fidelity": fidelity,
            "stockout_share": float(log.summary()["stockout_share"]), "truth_demand_mean": truth.demand_mean.tolist()}


def _sim_config(sim_dir: Path, steps: int | None, seed: int) -> Any:
    from agents.run_config import RunConfig

    raw = RunConfig.from_toml(BACKORDER_CONFIG).to_dict()
    raw["env"]["params"].pop("inventory", None)
    raw["env"]["sim_dir"] = str(sim_dir)
    config = RunConfig.from_dict(raw)
    return config.with_overrides(steps=steps, seed=seed, device="cpu", register=False)


def _true_env_factory(true: Any, **kwargs: Any):
    from envs.inventory_vector import InventoryVectorEnv

    return lambda n: InventoryVectorEnv(n, true, action_mode="order_up_to", horizon=HORIZON, **kwargs)


def evaluate_on_truth(sim_dir: Path, fitted: Any, true: Any, oracle: float, steps: int | None, seed: int,
                      eval_seed: int) -> dict:
    """Train PPO on ``sim_dir``; evaluate it and the fitted base-stock level on the true parameters."""
    from agents.baselines_inventory import BaseStockPolicy, lead_time_cost, tune_base_stock
    from envs.inventory import inventory_config

    config = _sim_config(sim_dir, steps, seed)
    kw = config.env.kwargs
    fitted_cfg = inventory_config(fitted, None, kw["action_mode"], None, None, None, kw["horizon"], None,
                                  kw["observation"], kw["action_type"])
    _log(f"{sim_dir.name}: PPO {config.steps} steps on demand {fitted.demand_mean[0]:.3f}, lead {fitted.lead_time}")
    start = time.perf_counter()
    model, vecnormalize = _train_inventory_ppo(config)
    train_s = round(time.perf_counter() - start, 1)
    ppo = sb3_actor(model, vecnormalize)

    def act(raw_obs: np.ndarray) -> np.ndarray:  # the deployed policy scales by the mean it was trained on
        return ppo(fitted_cfg.scale(raw_obs))

    make_rl = _true_env_factory(true, action_type=kw["action_type"], max_action=fitted_cfg.max_action)
    rl = evaluate_policy(act, make_rl, seed=eval_seed, oracle=oracle, kind="cost", per_period=True, warmup=WARMUP)
    levels, _ = tune_base_stock(fitted)
    base = evaluate_policy(BaseStockPolicy(levels, 1, true.lead_time), _true_env_factory(true), seed=eval_seed,
                           oracle=oracle, kind="cost", per_period=True, warmup=WARMUP)
    exact = float(lead_time_cost(levels, float(true.demand_mean[0]), true.lead_time, H, B)[0])
    return {"fitted_demand_mean": float(fitted.demand_mean[0]), "fitted_lead_time": fitted.lead_time,
            "ppo": {**strip_values(rl), "train_steps": config.steps, "train_seconds": train_s,
                    "excess_cost": rl["value"] / oracle - 1},
            "base_stock": {"level": int(levels[0]), "exact_cost_on_truth": exact, "excess_cost": exact / oracle - 1,
                           "simulated": strip_values(base)}}


def run(quick: bool = False, seed: int = TRAIN_SEED, steps: int | None = None, eval_seed: int = EVAL_SEED) -> dict:
    """The whole benchmark; returns the record (see the module docstring)."""
    from agents.baselines_inventory import tune_base_stock

    steps = 4096 if quick and steps is None else steps
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sims = fitted_sims(root, seed=0)
        true = sims["true"]
        levels, oracle = tune_base_stock(true)
        out = {"name": "inventory_fit", "true_demand_mean": TRUE_MEAN, "lead_time": true.lead_time,
               "holding_cost": H, "backorder_cost": B, "optimal_level": int(levels[0]), "optimal_cost": oracle,
               "log_periods": 365, "log_stockout_share": sims["stockout_share"],
               "censored_estimate": sims["fidelity"]["products"][0]["estimate"],
               "censored_ci": sims["fidelity"]["products"][0]["ci"],
               "naive_mean": sims["fidelity"]["products"][0]["naive_mean"],
               "estimated_lag": sims["fidelity"]["lead_time"]["pooled"]["mean"]}
        for kind in ("censored", "naive"):
            out[kind] = evaluate_on_truth(root / kind, sims[kind], true, oracle, steps, seed, eval_seed)
    out.update({"train_seed": seed, "eval_seed": eval_seed, "eval_horizon": HORIZON, "eval_warmup": WARMUP,
                "config": BACKORDER_CONFIG.name, "machine": platform.platform(), "quick": quick})
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4,096 PPO steps (a smoke run)")
    parser.add_argument("--seed", type=int, default=TRAIN_SEED, help="PPO training seed")
    parser.add_argument("--steps", type=int, default=None, help="PPO steps (default: the config's)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    result = run(args.quick, args.seed, args.steps)
    result["wall_s"] = round(time.perf_counter() - start, 1)
    print(json.dumps(result, indent=2, default=float))
    for kind in ("censored", "naive"):
        r = result[kind]
        _log(f"{kind}: demand {r['fitted_demand_mean']:.3f}; PPO {r['ppo']['value']:.3f} "
             f"({r['ppo']['excess_cost']:+.2%}), base stock S={r['base_stock']['level']} "
             f"{r['base_stock']['exact_cost_on_truth']:.3f} ({r['base_stock']['excess_cost']:+.2%}); optimum "
             f"S*={result['optimal_level']} {result['optimal_cost']:.3f}")
    return result


if __name__ == "__main__":
    main()
