"""Torch vector envs' speed: sub-environment steps/s at large ``num_envs``, beside the numpy vector envs.

Run ``python -m benchmarks.bench_torch_env [--device cpu|cuda|auto] [--num-envs 4096 65536 1048576] [--quick]``.
For AdAllocation and Pricing at each ``num_envs`` it times, in interleaved rounds (best round of each, so all
meet the same load on a shared machine):

- ``torch_tensor``: ``step_tensors`` with a pool of action tensors already on the device and
  ``check_actions=False`` (a GPU training loop: nothing crosses to the host);
- ``torch_numpy``: ``step`` with numpy actions (numpy in and out, what SB3 sees);
- ``numpy``: the native numpy vector env (``gymnasium.make_vec(..., vectorization_mode="vector_entry_point")``),
  always on the CPU (skip with ``--no-numpy``).

Torch runs on ``--threads`` CPU threads (default 1: on a small or shared machine torch's OpenMP threads
stall each other badly). A size that does not fit in memory is reported as skipped. On CUDA each timing is bracketed by
``torch.cuda.synchronize()``. Prints a table and the JSON record (machine, load average, torch threads, rows).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

import envs  # noqa: F401  (registers the ids for the numpy envs)
from envs.torch_factory import make_torch_vec_env

IDS = ("retailrl/AdAllocation-v0", "retailrl/Pricing-v0")
NUM_ENVS = (4096, 65_536, 1_048_576)
ACTION_POOL = 4
ROUNDS = 3
TARGET_SUBSTEPS = 4_000_000  # per round; steps = TARGET_SUBSTEPS // num_envs, within [MIN_STEPS, MAX_STEPS]
MIN_STEPS, MAX_STEPS = 3, 300
SEED = 0

console = Console(stderr=True, width=120)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _round(step: Callable[[Any], Any], pool: list[Any], n_steps: int, device: torch.device) -> float:
    """Seconds for ``n_steps`` calls of ``step`` cycling through ``pool``."""
    _sync(device)
    start = time.perf_counter()
    for i in range(n_steps):
        step(pool[i % len(pool)])
    _sync(device)
    return time.perf_counter() - start


def _variants(env_id: str, num_envs: int, device: str, with_numpy: bool) -> dict[str, tuple[Callable, list, Any]]:
    """Name -> (step function, action pool, device to sync) for every variant timed at this size."""
    out: dict[str, tuple[Callable, list, Any]] = {}
    fast = make_torch_vec_env(env_id, num_envs, device=device, check_actions=False)
    fast.reset(seed=SEED)
    fast.action_space.seed(SEED)
    host_pool = [fast.action_space.sample() for _ in range(ACTION_POOL)]
    out["torch_tensor"] = (fast.step_tensors, [torch.as_tensor(a, device=fast.device) for a in host_pool], fast.device)
    host = make_torch_vec_env(env_id, num_envs, device=device)
    host.reset(seed=SEED)
    out["torch_numpy"] = (host.step, host_pool, host.device)
    if with_numpy:
        import gymnasium as gym

        ref = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point")
        ref.reset(seed=SEED)
        out["numpy"] = (ref.step, host_pool, torch.device("cpu"))
    return out


def bench_size(env_id: str, num_envs: int, device: str, with_numpy: bool, target: int, rounds: int,
               steps: int | None = None) -> dict[str, Any]:
    """Sub-environment steps/s of each variant at ``num_envs`` (or ``skipped`` with the reason).

    :param target: sub-environment steps per round (``steps`` per round = ``target // num_envs``, clipped).
    :param steps: steps per round, overriding ``target``.
    """
    n_steps = int(np.clip(target // num_envs, MIN_STEPS, MAX_STEPS)) if steps is None else int(steps)
    row: dict[str, Any] = {"env_id": env_id, "num_envs": num_envs, "steps_per_round": n_steps}
    try:
        variants = _variants(env_id, num_envs, device, with_numpy)
        for step, pool, dev in variants.values():
            _round(step, pool, 2, dev)  # warm up
        best = dict.fromkeys(variants, np.inf)
        for _ in range(rounds):
            for name, (step, pool, dev) in variants.items():
                best[name] = min(best[name], _round(step, pool, n_steps, dev))
    except (MemoryError, RuntimeError) as exc:  # a size that does not fit (torch.OutOfMemoryError is a RuntimeError)
        if not isinstance(exc, MemoryError) and "memory" not in str(exc).lower():
            raise
        row["skipped"] = f"{type(exc).__name__}: {str(exc)[:200]}"
        return row
    finally:
        variants = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    for name, seconds in best.items():
        row[f"{name}_steps_per_s"] = num_envs * n_steps / seconds
    if "numpy_steps_per_s" in row:
        row["torch_tensor_over_numpy"] = row["torch_tensor_steps_per_s"] / row["numpy_steps_per_s"]
    return row


def machine(device: str) -> dict[str, Any]:
    """What the numbers were measured on (the load average shows how shared the machine was)."""
    from envs._torch_common import resolve_device

    dev = resolve_device(device)
    return {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
            "load_average_1m": os.getloadavg()[0], "device": str(dev),
            "cuda_available": torch.cuda.is_available(),
            "gpu": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None}


def run(device: str = "auto", num_envs: tuple[int, ...] = NUM_ENVS, with_numpy: bool = True,
        target: int = TARGET_SUBSTEPS, rounds: int = ROUNDS, steps: int | None = None) -> dict[str, Any]:
    """Time every (id, num_envs); returns the JSON-ready record."""
    rows = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"torch envs on {device}", total=len(IDS) * len(num_envs))
        for env_id in IDS:
            for n in num_envs:
                progress.update(task, description=f"{env_id} num_envs={n:,}")
                rows.append(bench_size(env_id, n, device, with_numpy, target, rounds, steps))
                progress.advance(task)
    return {"machine": machine(device), "rounds": rounds, "rows": rows}


def _table(result: dict[str, Any]) -> Table:
    table = Table(title=f"sub-env steps/s on {result['machine']['device']} (numpy env on the CPU)")
    for col in ("env", "num_envs", "torch step_tensors", "torch step (numpy io)", "numpy vector env", "torch/numpy"):
        table.add_column(col, justify="right")
    for row in result["rows"]:
        if "skipped" in row:
            table.add_row(row["env_id"].split("/")[-1], f"{row['num_envs']:,}", "skipped", row["skipped"][:40], "", "")
            continue
        ratio = f"{row['torch_tensor_over_numpy']:.2f}" if "torch_tensor_over_numpy" in row else "-"
        rates = [f"{row[key]:,.0f}" if key in row else "-"
                 for key in ("torch_tensor_steps_per_s", "torch_numpy_steps_per_s", "numpy_steps_per_s")]
        table.add_row(row["env_id"].split("/")[-1], f"{row['num_envs']:,}", *rates, ratio)
    return table


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Parse ``argv``, run, print the table (stderr) and the JSON record (stdout); returns the record."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_torch_env", description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: cuda if present)")
    parser.add_argument("--num-envs", type=int, nargs="+", default=list(NUM_ENVS))
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--steps", type=int, default=None,
                        help=f"steps per round (default: {TARGET_SUBSTEPS:,} // num_envs within [{MIN_STEPS}, {MAX_STEPS}])")
    parser.add_argument("--quick", action="store_true", help="num_envs 4096 and 65536, a quarter of the steps")
    parser.add_argument("--no-numpy", action="store_true", help="time the torch env only")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1, like the single-threaded numpy env; 0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads < 0:
        parser.error(f"--threads: expected a whole number >= 0, found {args.threads}")
    if args.rounds < 1 or (args.steps is not None and args.steps < 1):
        parser.error("--rounds and --steps: expected whole numbers >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    num_envs = tuple(n for n in args.num_envs if n <= 65_536) if args.quick else tuple(args.num_envs)
    target = TARGET_SUBSTEPS // 4 if args.quick else TARGET_SUBSTEPS
    if not torch.cuda.is_available():
        console.print("no CUDA device here: timing the CPU only (run with --device cuda on a GPU machine)")
    result = run(args.device, num_envs, not args.no_numpy, target, args.rounds, args.steps)
    console.print(_table(result))
    console.print(f"load average (1 min) at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
