"""Coverage of the simulated-CTR interval (``simulated_ci`` of ``retailrl sim fit``) on click worlds with known truth.

Run: ``.venv/bin/python -m benchmarks.bench_fidelity_coverage [--worlds 100] [--rounds 2000] [--cv-repeats 1]
[--first-seed 1000] [--out FILE.json]`` (two halves can run side by side with ``--worlds 50`` and
``--first-seed 1000`` / ``1050``: world ``w`` of a run has seed ``first_seed + w``).

Per world ``w`` (seed ``first_seed + w``; :func:`sim_data.synthetic.make_click_world`, 10 items, 3 slots, 5 context
features; even worlds logged by the uniform logger, odd ones by the softmax logger): the log is split by time as
``retailrl sim fit FILE --kind bandit`` splits it (the last 30% held out), the click model is fit on the rest as
that command fits it (IPW, penalties chosen by cross-validation), and the 95% interval of the held-out CTR
(:func:`envs.models.click_uncertainty.ctr_interval`) is checked against the *true* held-out CTR: the mean of the
true click probability ``kappa[k_i] relevance(x_i, a_i)`` over the held-out rows (not their noisy clicks).
Both ``shrinkage`` settings are scored; the floor (0.9) is on the default, ``"refit"``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import numpy as np

FLOOR = 0.9


def true_heldout_ctr(truth, log) -> float:
    """Mean true click probability of ``log``'s logged (context, item, slot) rows under ``truth``."""
    x = log.table[[f"context_{j}" for j in range(truth.n_features)]].to_numpy(dtype=np.float64)
    relevance = truth.relevance(x)[np.arange(len(log)), log.actions]
    return float((relevance * truth.position_bias[log.positions]).mean())


def coverage(n_worlds: int, n_rounds: int, click_kwargs: dict | None = None, first_seed: int = 1000,
             test_share: float = 0.3, shrinkage: tuple[str, ...] = ("refit", "keep"), progress=None) -> dict:
    """Fit and score ``n_worlds`` worlds (see the module docstring).

    :param click_kwargs: arguments of :class:`~envs.models.click.ClickModel` (default: the defaults, penalties
        cross-validated).
    :param shrinkage: the :func:`~envs.models.click_uncertainty.ctr_interval` settings to score.
    :return: ``{setting: {"coverage", "mean_width", "worlds": [per world: seed, logging, true, estimate,
        lower, upper, covered]}}``.
    """
    from envs.fit import split_bandit_by_time
    from envs.models.click import ClickModel
    from envs.models.click_uncertainty import ctr_interval
    from sim_data.synthetic import make_click_world

    out: dict = {s: {"worlds": []} for s in shrinkage}
    for w in range(int(n_worlds)):
        seed, logging = first_seed + w, ("softmax" if w % 2 else "uniform")
        log, truth = make_click_world(n_rounds, logging=logging, seed=seed)
        train, test = split_bandit_by_time(log, test_share)
        model = ClickModel(**(click_kwargs or {})).fit(train)
        true = true_heldout_ctr(truth, test)
        for s in shrinkage:
            ci = ctr_interval(model, train, test, shrinkage=s)
            out[s]["worlds"].append({"seed": seed, "logging": logging, "true": true, "estimate": ci["estimate"],
                                     "fitted_ctr": ci["fitted_ctr"], "lower": ci["lower"], "upper": ci["upper"],
                                     "covered": bool(ci["lower"] <= true <= ci["upper"])})
        if progress is not None:
            progress(f"world {w + 1}/{n_worlds}: " + ", ".join(
                f"{s} covered {sum(r['covered'] for r in out[s]['worlds'])}/{w + 1}" for s in shrinkage))
    for s in shrinkage:
        rows = out[s]["worlds"]
        out[s]["coverage"] = float(np.mean([r["covered"] for r in rows]))
        out[s]["mean_width"] = float(np.mean([r["upper"] - r["lower"] for r in rows]))
        for logging in ("uniform", "softmax"):
            sub = [r["covered"] for r in rows if r["logging"] == logging]
            out[s][f"coverage_{logging}"] = float(np.mean(sub)) if sub else None
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worlds", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--cv-repeats", type=int, default=1)
    parser.add_argument("--first-seed", type=int, default=1000, help="world w has seed first-seed + w")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    start = time.time()
    res = coverage(args.worlds, args.rounds, {"cv_repeats": args.cv_repeats}, first_seed=args.first_seed,
                   progress=lambda m: print(f"[bench_fidelity_coverage] {m}", file=sys.stderr, flush=True))
    summary = {"worlds": args.worlds, "first_seed": args.first_seed, "rounds": args.rounds, "cv_repeats": args.cv_repeats, "floor": FLOOR,
               "met": res["refit"]["coverage"] >= FLOOR, "seconds": time.time() - start,
               "machine": f"{platform.machine()}, {platform.processor() or platform.system()}, python "
                          f"{platform.python_version()}",
               **{s: {k: v for k, v in r.items() if k != "worlds"} for s, r in res.items()}}
    print(json.dumps(summary, indent=2))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(summary | {"per_world": {s: r["worlds"] for s, r in res.items()}}, fh, indent=2)
    return 0 if summary["met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
