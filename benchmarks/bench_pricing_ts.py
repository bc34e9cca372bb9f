"""Benchmark ``pricing_ts_lp_T1000`` / ``pricing_ts_lp_T10000``: TS-update vs the LP bound (Ferreira et al. 2018).

Run: ``.venv/bin/python -m benchmarks.bench_pricing_ts [--seeds N] [--horizons 1000 10000] [--alpha 0.25]``.
Prints one JSON record per horizon (the list ``retailrl bench policies --json`` prints):
``name, value, oracle, ratio, ci, target, met`` plus the instance's parameters and, under ``variants``, the
same figures for TS-fixed, inventory-blind TS, myopic greedy, uniform random and the best fixed price.
Every algorithm runs ``n_seeds`` independent seasons side by side (vectorised) from one seeded generator.
"""

from __future__ import annotations

import argparse
import json
import time

from agents.baselines import (
    FixedPricePricing,
    MyopicGreedyPricing,
    UniformRandomPricing,
    best_fixed_price,
)
from agents.pricing_ts import BernoulliPricingInstance, ThompsonPricing, ratio_summary, simulate_pricing

TARGETS = {1000: 0.98, 10000: 0.995}
DEFAULT_SEEDS = 100
BASE_SEED = 20180101


def _agents(instance: BernoulliPricingInstance, n_seeds: int) -> dict:
    p = instance.price_array
    ts = {mode: ThompsonPricing(p, mode, inventory=instance.inventory, horizon=instance.horizon, n_runs=n_seeds)
          for mode in ("update", "fixed", "blind")}
    best_k, _ = best_fixed_price(instance)
    return {
        "ts_update": ts["update"],
        "ts_fixed": ts["fixed"],
        "inventory_blind_ts": ts["blind"],
        "myopic_greedy": MyopicGreedyPricing(p, n_seeds),
        "uniform_random": UniformRandomPricing(instance.n_prices, n_seeds),
        f"best_fixed_price_{instance.prices[best_k]:.2f}": FixedPricePricing(best_k, instance.n_prices, n_seeds),
    }


def pricing_record(horizon: int, n_seeds: int = DEFAULT_SEEDS, alpha: float = 0.25, seed: int = BASE_SEED) -> dict:
    """The benchmark record for one horizon: TS-update's ratio to the LP bound and every variant's.

    :param horizon: T.
    :param n_seeds: independent seasons per algorithm (>= 30 for the record).
    :param alpha: inventory per period (``I0 = floor(alpha * T)``).
    :param seed: the generator's seed (each algorithm uses the same one).
    """
    if n_seeds < 30:
        raise ValueError(f"n_seeds: the benchmark needs >= 30 seeds, got {n_seeds}")
    instance = BernoulliPricingInstance.ferreira(horizon, alpha)
    oracle = instance.lp_bound()
    variants = {}
    for name, agent in _agents(instance, n_seeds).items():
        start = time.perf_counter()
        runs = simulate_pricing(instance, agent, seed)
        summary = ratio_summary(runs.revenue, oracle)
        summary["seconds"] = round(time.perf_counter() - start, 2)
        summary["max_units_sold"] = float(runs.units_sold.max())
        variants[name] = summary
    main_result = variants.pop("ts_update")
    target = TARGETS.get(int(horizon))
    return {
        "name": f"pricing_ts_lp_T{horizon}",
        "algorithm": "ts_update",
        "value": main_result["value"],
        "oracle": oracle,
        "ratio": main_result["ratio"],
        "ci": main_result["ci"],
        "target": target,
        "met": None if target is None else bool(main_result["ratio"] >= target),
        **instance.record(),
        "n_seeds": n_seeds,
        "seed": seed,
        "seconds": main_result["seconds"],
        "variants": variants,
    }


def main(argv: list[str] | None = None) -> list[dict]:
    """Print the records as a JSON list and return them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=DEFAULT_SEEDS)
    parser.add_argument("--horizons", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--alpha", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=BASE_SEED)
    args = parser.parse_args(argv)
    records = [pricing_record(t, args.seeds, args.alpha, args.seed) for t in args.horizons]
    print(json.dumps(records, indent=2))
    return records


if __name__ == "__main__":
    main()
