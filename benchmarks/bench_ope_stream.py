"""Benchmark: streaming OPE over an N-row Parquet log (80 actions x 3 slots), local engine and Ray, 200 resamples.

``python -m benchmarks.bench_ope_stream --rows N --out DIR [--engines local,ray] [--workers 2]`` writes the log
with :mod:`benchmarks.stream_logs` into ``DIR`` (reused when ``DIR/truth.json`` says it has N rows), then, for each
engine and each estimator set (``ipw,snipw`` and ``ipw,snipw,dr``), evaluates the contextual policy artefact in a
fresh process and reports the wall time, rows/s, rows/s per worker and peak RSS: the process's own
(``ru_maxrss``; for Ray the driver's) and, for Ray, the largest of its workers'. Ray's start-up is timed apart
(``startup_s``) and not counted in the wall time. It prints one JSON object (``records`` and a markdown table).
Pin it to 2 cores with ``taskset -c 0,1``. ``make bench`` runs it at N = 1,000,000 under the cache directory.
``--coverage R`` instead runs the coverage experiment: ``R`` synthetic worlds with known truth, the share of 95%
streaming intervals covering it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ESTIMATOR_SETS = ("ipw,snipw", "ipw,snipw,dr")


def ensure_logs(out: Path, rows: int, seed: int = 0, jobs: int = 2) -> dict:
    """The log under ``out`` (generated unless ``truth.json`` already records ``rows`` rows and ``seed``)."""
    truth_path = out / "truth.json"
    if truth_path.is_file():
        truth = json.loads(truth_path.read_text())
        if truth.get("rows") == rows and truth.get("seed") == seed and truth.get("generator") == 2:
            return truth
    from benchmarks.stream_logs import write_logs

    return write_logs(out, rows, seed=seed, jobs=jobs)


def run_one(logs: str, policy_dir: str, engine: str, estimators: str, workers: int, resamples: int) -> dict:
    """One timed evaluation in this process (what the subprocess runs)."""
    from policies.ope.stream import evaluate_stream
    from policies.policy import Policy

    startup = 0.0
    if engine == "ray":
        import ray

        t0 = time.perf_counter()
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
        startup = time.perf_counter() - t0
    policy = Policy.load(policy_dir)
    t0 = time.perf_counter()
    ev = evaluate_stream(logs, policy, estimators=estimators, n_resamples=resamples, engine=engine, workers=workers)
    wall = time.perf_counter() - t0
    return {"engine": engine, "estimators": estimators, "workers": workers, "rows": ev.n_rounds,
            "wall_s": wall, "rows_per_s": ev.n_rounds / wall, "rows_per_s_per_worker": ev.n_rounds / wall / workers,
            "startup_s": startup, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            "worker_peak_rss_mb": ev.run["peak_rss_mb"] if engine == "ray" else None,
            "block_rows": ev.run["block_rows"], "passes": ev.run["passes"],
            "estimates": {r.name: {"estimate": r.estimate, "ci": list(r.ci)} for r in ev.results}}


def _subprocess(args: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                        os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_ope_stream", *args], capture_output=True,
                         text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"bench_ope_stream {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_coverage(repetitions: int, n_rows: int = 50_000, estimators: str = "ipw,snipw,dr") -> dict:
    """Share of the streaming engine's 95% intervals that cover the truth over synthetic worlds with known truth.

    Each world is :func:`sim_data.synthetic.make_click_world` (softmax logger, seed ``2000 + rep``) written as 4
    Parquet files; the evaluated policy is a contextual linear softmax with 30% uniform exploration, its truth
    ``ClickTruth.policy_value`` of its action distribution on the logged contexts.
    """
    import tempfile

    import numpy as np

    from policies.ope.stream import evaluate_stream
    from policies.policy import LinearSoftmaxPolicy
    from sim_data.synthetic import make_click_world

    names = estimators.split(",")
    covered = dict.fromkeys(names, 0)
    for rep in range(repetitions):
        log, truth = make_click_world(n_rows, logging="softmax", seed=2000 + rep)
        policy = LinearSoftmaxPolicy(np.random.default_rng(rep).normal(size=(len(log.context_columns),
                                     log.n_actions, log.n_positions)), epsilon=0.3)
        pi = policy.action_dist(log.table[log.context_columns])
        true = truth.policy_value(pi)
        with tempfile.TemporaryDirectory() as tmp:
            for i, rows in enumerate(np.array_split(np.arange(len(log)), 4)):
                log.table.iloc[rows].to_parquet(Path(tmp) / f"part-{i}.parquet", index=False)
            ev = evaluate_stream(tmp, policy, estimators=estimators, n_resamples=200, seed=rep)
        for r in ev.results:
            covered[r.name] += int(r.ci[0] <= true <= r.ci[1])
        print(f"[bench_ope_stream] coverage world {rep + 1}/{repetitions}", file=sys.stderr, flush=True)
    return {"repetitions": repetitions, "rows": n_rows, "coverage": {n: covered[n] / repetitions for n in names}}


def markdown(records: list[dict], truth: dict) -> str:
    lines = [f"True value of the evaluated policy: {truth['true_value']:.6f}.", "",
             "| rows | engine | estimators | wall | rows/s | rows/s per worker | peak RSS (driver) | "
             "peak RSS (worker) | IPW | SNIPW | DR |", "|---:|---|---|---:|---:|---:|---:|---:|---|---|---|"]
    for r in records:
        est = r["estimates"]
        cells = [f"{est[n]['estimate']:.5f} [{est[n]['ci'][0]:.5f}, {est[n]['ci'][1]:.5f}]" if n in est else "-"
                 for n in ("ipw", "snipw", "dr")]
        worker = f"{r['worker_peak_rss_mb']:,.0f} MB" if r["worker_peak_rss_mb"] else "-"
        lines.append(f"| {r['rows']:,} | {r['engine']} ({r['workers']}) | {r['estimators']} | {r['wall_s']:.1f} s | "
                     f"{r['rows_per_s']:,.0f} | {r['rows_per_s_per_worker']:,.0f} | {r['peak_rss_mb']:,.0f} MB | "
                     f"{worker} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", default=None, help="directory of the generated log (default: the cache)")
    parser.add_argument("--engines", default="local,ray")
    parser.add_argument("--estimators", default=";".join(ESTIMATOR_SETS),
                        help="estimator sets separated by ';'")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--resamples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--coverage", type=int, default=0, help="only run the coverage experiment with R worlds")
    parser.add_argument("--run-one", nargs=3, metavar=("LOGS", "POLICY", "ENGINE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.coverage:
        result = run_coverage(args.coverage)
        print(json.dumps(result, indent=2))
        return result
    if args.run_one:
        logs, policy_dir, engine = args.run_one
        record = run_one(logs, policy_dir, engine, args.estimators, args.workers, args.resamples)
        print(json.dumps(record))
        return record
    if args.out is None:
        from sim_data.io import cache_dir

        out = cache_dir() / "bench_ope_stream" / f"rows-{args.rows}"
    else:
        out = Path(args.out)
    truth = ensure_logs(out, args.rows, args.seed, jobs=args.workers)
    records = []
    for engine in args.engines.split(","):
        for estimators in args.estimators.split(";"):
            print(f"[bench_ope_stream] {args.rows:,} rows, {engine}, {estimators}", file=sys.stderr, flush=True)
            records.append(_subprocess(["--run-one", str(out / "logs"), str(out / "policy"), engine,
                                        "--estimators", estimators, "--workers", str(args.workers),
                                        "--resamples", str(args.resamples)]))
            print(json.dumps(records[-1]), file=sys.stderr, flush=True)
    result = {"rows": args.rows, "truth": truth, "records": records, "markdown": markdown(records, truth),
              "machine": {"cpus": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
                          "load_average": os.getloadavg()}}
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
