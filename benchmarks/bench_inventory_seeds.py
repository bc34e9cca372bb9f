"""How robust the inventory RL records are to the training seed: each record trained once per seed, in parallel.

Run: ``.venv/bin/python -m benchmarks.bench_inventory_seeds [--seeds 0 1 2 ...] [--workers N] [--only NAME ...]``.
Trains ``configs/inventory_backorder_ppo.toml`` and ``configs/inventory_lostsales_ppo.toml`` exactly as
``retailrl bench policies`` does (:func:`benchmarks.bench_inventory.inventory_backorder_record` and
:func:`~benchmarks.bench_inventory.lostsales_records`, evaluated on the same held-out seeds), once per training seed,
``--workers`` processes at a time (each PPO uses one torch thread). Prints a JSON list, one summary per record:
the ratio per seed, how many seeds meet the target, the median and the worst ratio. A single run's ``met`` says
little about a learner: this says how often it is met.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor

RECORDS = ("inventory_backorder_ppo", "inventory_lostsales_rl")


def _one(name: str, seed: int, variant: str, overrides: dict, eval_seed: int) -> dict:
    from benchmarks import bench_inventory

    kwargs = {"seed": seed, "overrides": overrides or None, "eval_seed": eval_seed}
    if name == "inventory_backorder_ppo":
        record = bench_inventory.inventory_backorder_record(False, **kwargs)
    else:
        record = next(r for r in bench_inventory.lostsales_records(False, **kwargs) if r["name"] == name)
    return {"name": name, "variant": variant, "overrides": overrides, "seed": seed, "ratio": record["ratio"],
            "ci": record["ci"], "value": record["value"], "target": record["target"], "met": record["met"],
            "seconds": record["seconds"]}


def parse_variant(text: str) -> tuple[str, str, dict]:
    """``RECORD:key=value,key=value`` (values read as JSON, else kept as text) -> ``(record, text, overrides)``;
    ``RECORD`` alone is the config as shipped. Keys: a hyper-parameter (``gamma``), a nested one
    (``policy_kwargs.log_std_init``) or an env argument (``env.action_type``)."""
    name, _, body = text.partition(":")
    if name not in RECORDS:
        raise ValueError(f"--variant {text!r}: expected RECORD[:key=value,...] with RECORD one of {RECORDS}")
    hyperparams = {}
    for item in filter(None, body.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--variant {text!r}: expected key=value, found {item!r}")
        try:
            hyperparams[key] = json.loads(value)
        except json.JSONDecodeError:
            hyperparams[key] = value
    return name, body or "as shipped", hyperparams


def summarize(name: str, variant: str, runs: list[dict]) -> dict:
    """One record's (and variant's) runs, one per seed, as a summary."""
    ratios = [r["ratio"] for r in runs]
    return {"name": name, "variant": variant, "target": runs[0]["target"], "seeds": [r["seed"] for r in runs], "ratios": ratios,
            "met_count": sum(r["met"] for r in runs), "n_seeds": len(runs), "median_ratio": statistics.median(ratios),
            "worst_ratio": min(ratios), "best_ratio": max(ratios), "runs": runs}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(8)))
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    parser.add_argument("--variant", nargs="+", default=list(RECORDS),
                        help="RECORD or RECORD:key=value,... (config overrides), e.g. "
                             "inventory_backorder_ppo:n_steps=128,learning_rate=lin_1e-3,env.action_type=continuous")
    parser.add_argument("--eval-seed", type=int, default=None,
                        help="evaluation seed (default: the records'); tune on another one than you report")
    args = parser.parse_args(argv)
    from benchmarks._records import EVAL_SEED

    eval_seed = EVAL_SEED if args.eval_seed is None else args.eval_seed
    variants = [parse_variant(v) for v in args.variant]
    jobs = [(name, seed, text, hp, eval_seed) for name, text, hp in variants for seed in args.seeds]
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        runs = list(pool.map(_one, *zip(*jobs, strict=True)))
    summaries = [summarize(name, text, [r for r in runs if r["name"] == name and r["variant"] == text])
                 for name, text, _ in variants]
    for s in summaries:
        print(f"[bench_inventory_seeds] {s['name']} ({s['variant']}): met on {s['met_count']}/{s['n_seeds']} "
              f"seeds, median ratio {s['median_ratio']:.4f}, worst {s['worst_ratio']:.4f}", file=sys.stderr)
    meta = {"eval_seed": eval_seed, "workers": args.workers, "wall_s": round(time.perf_counter() - start, 1), "cpu_count": os.cpu_count(),
            "machine": platform.platform()}
    print(json.dumps([{**s, **meta} for s in summaries], indent=2, default=float))
    return summaries


if __name__ == "__main__":
    main()
