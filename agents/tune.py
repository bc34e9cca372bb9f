"""Multi-seed runs and hyper-parameter sweeps on Ray Tune (local Ray by default; ``ray_address`` for a cluster).

A sweep draws ``tune.num_samples`` hyper-parameter settings from ``[tune.search]`` with a seeded numpy Generator
(``grid`` entries are crossed with every draw), then trains every setting with every seed of ``tune.seeds``:
each (setting, seed) pair is one Ray Tune trial running :func:`agents.train.run_training` in its own run
directory. Drawing the settings up front keeps a sweep reproducible (same config, same trials, same numbers)
and pairs the seeds: the summary gives, per setting, the mean over seeds of the evaluation mean and its 95%
interval across seeds, and names the best setting.

Ray runs the trials (one CPU each by default, ``tune.cpus_per_trial``). On a cluster (``ray_address``) the nodes
need the project installed (``pip install retailrl[rl,tune]``) and the run directories land on the node that ran
each trial.
"""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from agents.run_config import RunConfig, TuneConfig
from agents.train import interval95, run_training
from sim_data.io import atomic_write

SWEEP_FILE = "sweep.json"


@dataclass
class SweepResult:
    """What a sweep produced.

    :param sweep_dir: the sweep's directory (``sweep.json``, one run directory per trial, Ray's files).
    :param trials: one dict per trial: ``sample``, ``seed``, ``hyperparams``, ``eval_mean``, ``eval_ci95``,
        ``run_dir``; ordered by (sample, seed).
    :param summary: one dict per setting: ``sample``, ``hyperparams``, ``seeds``, ``mean`` (over seeds of the
        evaluation means), ``ci95`` (across seeds; the point itself with one seed), ``eval_means``.
    :param best: the summary entry with the best ``mean`` (``tune.mode``).
    """

    sweep_dir: Path
    trials: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    best: dict[str, Any]


def sample_settings(tune: TuneConfig, seed: int) -> list[dict[str, Any]]:
    """The hyper-parameter settings of a sweep: ``num_samples`` draws (x every ``grid`` combination).

    :param tune: the validated ``[tune]`` section.
    :param seed: seeds the numpy Generator that draws ``choice``/``uniform``/``loguniform``/``randint``.
    :return: a list of ``{name: value}`` dicts (``[{}]`` when the search space is empty).
    """
    rng = np.random.default_rng(seed)
    grid_names = [name for name, spec in tune.search.items() if "grid" in spec]
    grid_values = list(itertools.product(*(tune.search[name]["grid"] for name in grid_names)))
    settings = []
    for _ in range(tune.num_samples):
        drawn: dict[str, Any] = {}
        for name, spec in tune.search.items():
            kind, args = next(iter(spec.items()))
            if kind == "choice":
                drawn[name] = args[int(rng.integers(len(args)))]
            elif kind == "uniform":
                drawn[name] = float(rng.uniform(args[0], args[1]))
            elif kind == "loguniform":
                drawn[name] = float(np.exp(rng.uniform(np.log(args[0]), np.log(args[1]))))
            elif kind == "randint":
                drawn[name] = int(rng.integers(int(args[0]), int(args[1])))
        for combo in grid_values:
            settings.append({**drawn, **dict(zip(grid_names, combo, strict=True))})
    return settings


def _trainable(base: dict[str, Any], sweep_dir: str):
    """The Ray Tune function trainable for one (setting, seed) trial."""

    def train_trial(trial_config: dict[str, Any]) -> None:
        from ray import tune as ray_tune

        spec = trial_config["trial"]
        config = RunConfig.from_dict(copy.deepcopy(base)).with_overrides(seed=spec["seed"],
                                                                        hyperparams=spec["hyperparams"],
                                                                        register=False)
        run_dir = Path(sweep_dir) / f"sample{spec['sample']:03d}-s{spec['seed']}"
        result = run_training(config, progress=False, run_dir=run_dir)
        ev = result.metrics["eval"]
        ray_tune.report({"eval_mean": ev["mean"], "eval_ci_lo": ev["ci95"][0], "eval_ci_hi": ev["ci95"][1],
                         "sample": spec["sample"], "seed": spec["seed"], "run_dir": str(run_dir)})

    return train_trial


def _summarise(trials: list[dict[str, Any]], mode: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    summary = []
    for sample, group in itertools.groupby(sorted(trials, key=lambda t: (t["sample"], t["seed"])),
                                           key=lambda t: t["sample"]):
        group = list(group)
        means = np.array([t["eval_mean"] for t in group])
        mean, lo, hi = interval95(means)
        summary.append({"sample": sample, "hyperparams": group[0]["hyperparams"], "seeds": [t["seed"] for t in group],
                        "eval_means": means.tolist(), "mean": mean, "ci95": [lo, hi]})
    pick = max if mode == "max" else min
    return summary, pick(summary, key=lambda s: s["mean"])


def run_sweep(config: RunConfig, *, ray_address: str | None = None, num_cpus: int | None = None,
              sweep_dir: str | Path | None = None, verbose: int = 1) -> SweepResult:
    """Run the config's ``[tune]`` sweep (or a multi-seed run when ``[tune.search]`` is empty) on Ray Tune.

    :param config: a validated run config; its ``tune`` section says what to sweep.
    :param ray_address: a Ray cluster address (``ray://host:10001`` or ``auto``); ``None`` starts a local Ray.
    :param num_cpus: CPUs of the local Ray (default: all of the machine's).
    :param sweep_dir: where the sweep goes (default ``<out>/<name>-sweep-<UTC time>``).
    :param verbose: Ray Tune's verbosity (0 silent, 1 status, 2 per-trial results).
    :raises RuntimeError: naming the trials that failed and their errors.
    """
    import ray
    from ray import tune as ray_tune

    config.validate()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    sweep_dir = Path(sweep_dir) if sweep_dir is not None else Path(config.out) / f"{config.name}-sweep-{stamp}"
    sweep_dir = sweep_dir.resolve()
    sweep_dir.mkdir(parents=True, exist_ok=True)
    settings = sample_settings(config.tune, config.seed)
    specs = [{"sample": i, "seed": seed, "hyperparams": setting}
             for i, setting in enumerate(settings) for seed in config.tune.seeds]

    started_here = not ray.is_initialized()
    if started_here:
        if ray_address is None:
            project_root = str(Path(__file__).resolve().parents[1])
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=verbose > 1,
                     runtime_env={"env_vars": {"PYTHONPATH": project_root}})
        else:
            ray.init(address=ray_address, log_to_driver=verbose > 1)
    try:
        trainable = ray_tune.with_resources(_trainable(config.to_dict(), str(sweep_dir)),
                                            {"cpu": config.tune.cpus_per_trial})
        tuner = ray_tune.Tuner(
            trainable,
            param_space={"trial": ray_tune.grid_search(specs)},
            tune_config=ray_tune.TuneConfig(num_samples=1, metric=config.tune.metric, mode=config.tune.mode),
            run_config=ray_tune.RunConfig(name="ray", storage_path=str(sweep_dir), verbose=verbose),
        )
        grid = tuner.fit()
    finally:
        if started_here:
            ray.shutdown()
    errors = [(r.config["trial"], r.error) for r in grid if r.error is not None]
    if errors:
        raise RuntimeError("sweep: trials failed: " + "; ".join(
            f"sample {spec['sample']} seed {spec['seed']}: {err!r}" for spec, err in errors))
    trials = []
    for r in grid:
        spec = r.config["trial"]
        trials.append({"sample": spec["sample"], "seed": spec["seed"], "hyperparams": spec["hyperparams"],
                       "eval_mean": float(r.metrics["eval_mean"]),
                       "eval_ci95": [float(r.metrics["eval_ci_lo"]), float(r.metrics["eval_ci_hi"])],
                       "run_dir": r.metrics["run_dir"]})
    trials.sort(key=lambda t: (t["sample"], t["seed"]))
    summary, best = _summarise(trials, config.tune.mode)
    doc = {"config": config.to_dict(), "trials": trials, "summary": summary, "best": best}
    text = json.dumps(doc, indent=2, sort_keys=True)
    atomic_write(sweep_dir / SWEEP_FILE, lambda tmp: tmp.write_text(text))
    return SweepResult(sweep_dir=sweep_dir, trials=trials, summary=summary, best=best)
