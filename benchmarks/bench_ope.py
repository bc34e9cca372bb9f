"""Benchmark: DR with given reward predictions + ESS + a 200-resample bootstrap interval over 10M logged rows.

Run ``python -m benchmarks.bench_ope [--rows N] [--actions A] [--positions K] [--resamples B] [--coverage R] [--obd]``.
Prints one JSON object: seconds for validation, DR, diagnostics and the bootstrap (and their total), and the
process's peak resident memory (``ru_maxrss``, which includes generating the inputs). With ``--coverage R`` it
also runs the coverage experiment of the issue: ``R`` synthetic worlds of 100,000 rows (sim_data.synthetic's click
world), and reports how often each estimator's 95% bootstrap interval covers the true value. With ``--obd`` it runs
the Open Bandit Dataset experiment of docs/ope.md (:func:`policies.ope.obd.obd_experiment`, all campaigns).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np

from policies.ope.bandit import DoublyRobust
from policies.ope.diagnostics import weight_diagnostics
from policies.ope.intervals import bootstrap_interval
from policies.ope.validation import bandit_inputs


def make_inputs(n_rows: int, n_actions: int, n_positions: int, seed: int = 0) -> dict:
    """Synthetic logged arrays with a uniform logger and a softmax evaluation policy; float64 throughout."""
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, n_actions, size=n_rows)
    positions = rng.integers(0, n_positions, size=n_rows)
    propensities = np.full(n_rows, 1.0 / n_actions)
    reward_pred = rng.random((n_rows, n_actions, n_positions)) * 0.2
    action_dist = np.exp(5.0 * reward_pred)
    action_dist /= action_dist.sum(axis=1, keepdims=True)
    q_logged = reward_pred[np.arange(n_rows), actions, positions]
    rewards = (rng.random(n_rows) < q_logged).astype(np.float64)
    return dict(actions=actions, positions=positions, rewards=rewards, propensities=propensities,
                action_dist=action_dist, reward_pred=reward_pred)


def run_speed(n_rows: int, n_actions: int, n_positions: int, n_resamples: int) -> dict:
    arrays = make_inputs(n_rows, n_actions, n_positions)
    t0 = time.perf_counter()
    inputs = bandit_inputs(**arrays)
    t1 = time.perf_counter()
    terms = DoublyRobust().round_terms(inputs)
    estimate = terms.value()
    t2 = time.perf_counter()
    diag = weight_diagnostics(inputs.weights(), inputs.eval_probs())
    t3 = time.perf_counter()
    ci = bootstrap_interval(terms, n_resamples=n_resamples, seed=0)
    t4 = time.perf_counter()
    return {
        "rows": n_rows, "n_actions": n_actions, "n_positions": n_positions, "n_resamples": n_resamples,
        "estimate": estimate, "ci": list(ci), "ess": diag["ess"],
        "seconds": {"validate": t1 - t0, "dr": t2 - t1, "diagnostics": t3 - t2, "bootstrap": t4 - t3,
                    "total": t4 - t0, "dr_ess_bootstrap": t4 - t1},
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


def run_coverage(repetitions: int, n_rows: int = 100_000) -> dict:
    """Share of 95% bootstrap intervals covering the truth over ``repetitions`` synthetic worlds."""
    from policies.ope.run import evaluate_log
    from sim_data.synthetic import make_click_world

    names = ("dm", "ipw", "snipw", "dr", "sndr")
    covered = dict.fromkeys(names, 0)
    errors: dict[str, list[float]] = {n: [] for n in names}
    for rep in range(repetitions):
        log, truth = make_click_world(n_rows, logging="softmax", seed=1000 + rep)
        pi = 0.7 * truth.best_action_dist() + 0.3 / log.n_actions
        true = truth.policy_value(pi)
        ev = evaluate_log(log, pi, estimators=",".join(names), seed=rep)
        for r in ev.results:
            covered[r.name] += int(r.ci[0] <= true <= r.ci[1])
            errors[r.name].append(abs(r.estimate - true) / true)
        print(f"coverage repetition {rep + 1}/{repetitions}", file=sys.stderr)
    return {"repetitions": repetitions, "rows": n_rows,
            "coverage": {n: covered[n] / repetitions for n in names},
            "mean_relative_error": {n: float(np.mean(errors[n])) for n in names}}


def run_obd(campaigns: tuple[str, ...] = ("all", "men", "women"), n_resamples: int = 200) -> dict:
    """The OBD experiment (both directions, every campaign): records plus a markdown table for docs/ope.md."""
    from policies.ope.obd import obd_experiment

    records = []
    for campaign in campaigns:
        records += obd_experiment(campaign, n_resamples=n_resamples, seed=0)
        print(f"OBD campaign {campaign} done", file=sys.stderr)
    lines = ["| campaign | evaluated (from logs) | estimator | estimate | 95% interval | truth | rel. error | covers |",
             "|---|---|---|---:|---|---:|---:|:-:|"]
    for r in records:
        lines.append(f"| {r['campaign']} | {r['evaluated']} ({r['logs']}) | {r['estimator']} | {r['estimate']:.5f} | "
                     f"[{r['ci'][0]:.5f}, {r['ci'][1]:.5f}] | {r['truth']:.5f} | {r['relative_error']:.3f} | "
                     f"{'yes' if r['covers'] else 'no'} |")
    names = list(dict.fromkeys(r["estimator"].split("(")[0] for r in records))
    mean_err = {n: float(np.mean([r["relative_error"] for r in records if r["estimator"].split("(")[0] == n]))
                for n in names}
    return {"records": records, "markdown": "\n".join(lines), "mean_relative_error": mean_err}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--actions", type=int, default=10)
    parser.add_argument("--positions", type=int, default=1)
    parser.add_argument("--resamples", type=int, default=200)
    parser.add_argument("--coverage", type=int, default=0, help="repetitions of the coverage experiment (0: skip)")
    parser.add_argument("--obd", action="store_true", help="also run the Open Bandit Dataset experiment")
    parser.add_argument("--no-speed", action="store_true", help="skip the 10M-row speed run")
    args = parser.parse_args(argv)
    out = {}
    if not args.no_speed:
        out["speed"] = run_speed(args.rows, args.actions, args.positions, args.resamples)
    if args.coverage:
        out["coverage"] = run_coverage(args.coverage)
    if args.obd:
        out["obd"] = run_obd()
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
