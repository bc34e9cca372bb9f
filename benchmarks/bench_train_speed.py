"""Benchmark ``train_speed_ppo``: PPO training throughput on Pricing with 8 vectorized envs (env steps per second).

Run: ``.venv/bin/python -m benchmarks.bench_train_speed [--steps 100000] [--n-envs 8] [--torch-threads 1]``;
the GPU path: ``... --backend torch --device cuda --n-envs 4096 --n-steps 32 --batch-size 8192`` (the Pricing env
steps as tensors on the GPU and PPO's network trains there; several ``--n-envs`` values give one record each).
Trains ``configs/pricing_ppo.toml`` (PPO, MlpPolicy on the CPU, 4 products x 5 price levels, 100-period seasons)
for ``--steps`` env steps through :func:`agents.train.run_training` and reports the env steps per wall-clock
second of ``model.learn`` (rollouts and gradient updates together; evaluation and export excluded). Prints a JSON
list with one record: ``name, value, unit, target, met`` plus the machine's CPU count and load average, because
the figure depends on how busy the machine is (goal: >= 2,000 steps/s on 2 cores). A benchmark figure, never a
timed test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from pathlib import Path

from agents.run_config import RunConfig
from agents.train import run_training

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "pricing_ppo.toml"
TARGET_STEPS_PER_S = 2_000


def train_speed_record(steps: int = 100_000, n_envs: int = 8, torch_threads: int = 1, seed: int = 0,
                       device: str = "cpu", backend: str = "numpy", hyperparams: dict | None = None) -> dict:
    """Train once and return the ``train_speed_ppo`` record.

    :param device: where PPO's network trains (and a torch env steps): ``cpu``, ``cuda``.
    :param backend: ``numpy`` (native vector env on the CPU) or ``torch`` (``envs.torch_factory`` on ``device``).
    :param hyperparams: overrides of the config's PPO hyper-parameters (``n_steps``, ``batch_size`` ...).
    """
    import torch

    config = RunConfig.from_toml(CONFIG).with_overrides(steps=steps, n_envs=n_envs, seed=seed, device=device,
                                                         register=False, backend=backend, hyperparams=hyperparams)
    config.torch_threads = torch_threads
    config.validate()
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    with tempfile.TemporaryDirectory() as tmp:
        result = run_training(config, progress=False, run_dir=Path(tmp) / "run")
    timing = result.metrics["timing"]
    value = float(timing["env_steps_per_s"])
    return {
        "name": "train_speed_ppo", "value": value, "unit": "env steps/s", "target": TARGET_STEPS_PER_S,
        "met": value >= TARGET_STEPS_PER_S, "algo": "PPO", "env": config.env.id, "n_envs": config.env.n_envs,
        "steps": result.metrics["steps"], "train_wall_s": timing["train_wall_s"],
        "eval_mean": result.metrics["eval"]["mean"], "eval_ci95": result.metrics["eval"]["ci95"],
        "train_cpu_s": timing["train_cpu_s"], "env_steps_per_cpu_s": timing["env_steps_per_cpu_s"], "torch_threads": torch_threads,
        "hyperparams": config.hyperparams, "device": device, "backend": backend, "cpu_count": os.cpu_count(),
        "gpu": torch.cuda.get_device_name() if device.startswith("cuda") else None, "torch": torch.__version__,
        "load_avg_1min_before": load_before,
        "load_avg_1min_after": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "machine": platform.platform(),
        "note": "throughput of model.learn (rollouts + updates) per wall-clock second; it depends on other load "
                "on the machine, env_steps_per_cpu_s (per second of this process's CPU time) much less",
    }


def main(argv: list[str] | None = None) -> list[dict]:
    """Print the record as a JSON list and return it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--n-envs", type=int, nargs="+", default=[8])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--backend", default="numpy", choices=["numpy", "torch"])
    parser.add_argument("--n-steps", type=int, default=None, help="PPO rollout length per env (config: 256)")
    parser.add_argument("--batch-size", type=int, default=None, help="PPO minibatch size (config: 512)")
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in (("n_steps", args.n_steps), ("batch_size", args.batch_size)) if v is not None}
    records = [train_speed_record(args.steps, n, args.torch_threads, args.seed, device=args.device,
                                  backend=args.backend, hyperparams=overrides or None) for n in args.n_envs]
    print(json.dumps(records, indent=2))
    return records


if __name__ == "__main__":
    main()
