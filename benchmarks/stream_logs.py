"""A synthetic bandit log of any size as Parquet files, with known propensities, plus the policy to evaluate.

``python -m benchmarks.stream_logs --rows N --out DIR`` writes ``DIR/logs/part-00000.parquet`` ... (1,000,000
rows per file, 131,072 rows per row group), ``DIR/policy/`` (a contextual :class:`LinearSoftmaxPolicy` artefact)
and ``DIR/truth.json``. The world: 80 actions x 3 slots, 4 context features ``x ~ N(0, I)``; each row is one
impression in a slot drawn uniformly; the logging policy is a linear softmax (temperature 1) over the actions in
that slot, and the logged ``propensity`` is its exact probability; the reward is a click,
``Bernoulli(sigmoid(x . theta_a + item_a + slot_k))`` (CTR about 4%). The evaluated policy is another linear
softmax close to the logger (same score plus a perturbation, 5% uniform exploration), so the importance weights
are bounded. ``truth.json`` holds the evaluated policy's true value on the generated contexts,
``mean_i sum_a pi(a | x_i, k_i) ctr(x_i, a, k_i)``. Generation is chunked (memory of one row group per
process) and seeded per file: the same ``--seed`` and ``--rows`` give the same files for any ``--jobs``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from policies.policy import LinearSoftmaxPolicy
from sim_data.io import atomic_write

N_ACTIONS, N_POSITIONS, N_FEATURES = 80, 3, 4
ROWS_PER_FILE = 1_000_000
ROW_GROUP = 131_072


def world(seed: int = 0) -> dict:
    """The world's parameters: logging and evaluated policies, and the click model."""
    rng = np.random.default_rng(seed)
    w_log = rng.normal(scale=0.5, size=(N_FEATURES, N_ACTIONS, N_POSITIONS))
    b_log = rng.normal(scale=0.5, size=(N_ACTIONS, N_POSITIONS))
    logger = LinearSoftmaxPolicy(w_log, b_log, feature_names=[f"context_{j}" for j in range(N_FEATURES)])
    target = LinearSoftmaxPolicy(w_log + rng.normal(scale=0.3, size=w_log.shape), b_log + rng.normal(scale=0.3,
                                 size=b_log.shape), epsilon=0.05,
                                 feature_names=[f"context_{j}" for j in range(N_FEATURES)])
    theta = rng.normal(scale=0.4, size=(N_FEATURES, N_ACTIONS))
    item = rng.normal(-3.4, 0.5, size=N_ACTIONS)
    slot = np.array([0.0, -0.3, -0.6])
    return {"logger": logger, "target": target, "theta": theta, "item": item, "slot": slot}


def _ctr(w: dict, x: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Click probabilities ``(n, n_actions)`` in each row's slot."""
    return 1.0 / (1.0 + np.exp(-(x @ w["theta"] + w["item"][None, :] + w["slot"][positions][:, None])))


def make_chunk(w: dict, n: int, rng: np.random.Generator) -> tuple[pa.Table, float]:
    """``n`` logged rows, and the sum over them of the evaluated policy's expected click."""
    x = rng.standard_normal((n, N_FEATURES))
    k = rng.integers(0, N_POSITIONS, size=n)
    pi_log = w["logger"].slot_dist(x, k)
    u = rng.random(n)
    a = np.minimum((np.cumsum(pi_log, axis=1) < u[:, None]).sum(axis=1), N_ACTIONS - 1)
    ctr = _ctr(w, x, k)
    rows = np.arange(n)
    reward = (rng.random(n) < ctr[rows, a]).astype(np.float64)
    value = float(np.einsum("na,na->n", w["target"].slot_dist(x, k), ctr).sum())
    cols = {"action": pa.array(a.astype(np.int32)), "position": pa.array(k.astype(np.int8)),
            "propensity": pa.array(pi_log[rows, a]), "reward": pa.array(reward)}
    cols.update({f"context_{j}": pa.array(x[:, j]) for j in range(N_FEATURES)})
    return pa.table(cols), value


def _write_file(out: Path, w: dict, seed: int, i: int, n: int) -> float:
    """File ``i`` of the log (``n`` rows, its own seeded generator); returns its sum of expected clicks."""
    rng = np.random.default_rng([seed, 1, i])
    pieces = [make_chunk(w, min(ROW_GROUP, n - s), rng) for s in range(0, n, ROW_GROUP)]
    table = pa.concat_tables([t for t, _ in pieces])
    atomic_write(out / "logs" / f"part-{i:05d}.parquet", lambda tmp: pq.write_table(table, tmp,
                                                                                      row_group_size=ROW_GROUP))
    return sum(v for _, v in pieces)


def write_logs(out: str | Path, n_rows: int, *, seed: int = 0, rows_per_file: int = ROWS_PER_FILE,
               jobs: int = 1) -> dict:
    """Write the log, the policy artefact and ``truth.json`` under ``out``; returns the truth record.

    :param jobs: processes writing files in parallel (each file has its own generator: same files for any jobs).
    """
    from concurrent.futures import ProcessPoolExecutor

    out = Path(out)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    w = world(seed)
    sizes = [min(rows_per_file, n_rows - start) for start in range(0, n_rows, rows_per_file)]
    total = 0.0
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_write_file, out, w, seed, i, n) for i, n in enumerate(sizes)]
        for i, f in enumerate(futures):
            total += f.result()
            print(f"[stream_logs] file {i + 1}/{len(sizes)} written", file=sys.stderr, flush=True)
    w["target"].save(out / "policy")
    truth = {"rows": n_rows, "files": len(sizes), "seed": seed, "generator": 2, "n_actions": N_ACTIONS,
             "n_positions": N_POSITIONS, "n_features": N_FEATURES, "true_value": total / n_rows}
    atomic_write(out / "truth.json", lambda tmp: tmp.write_text(json.dumps(truth, indent=2)))
    return truth


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, help="processes writing files in parallel")
    args = parser.parse_args(argv)
    truth = write_logs(args.out, args.rows, seed=args.seed, jobs=args.jobs)
    print(json.dumps(truth, indent=2))
    return truth


if __name__ == "__main__":
    main()
