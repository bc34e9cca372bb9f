"""`retailrl train`: a training run (or, with ``--tune``, a Ray Tune sweep) from a configs/NAME.toml file."""

from __future__ import annotations

from pathlib import Path

import typer

from retailrl.cli._common import console, print_json, user_errors


def train(
    config: Path = typer.Option(..., "--config", help="A configs/NAME.toml training config."),
    algo: str | None = typer.Option(None, "--algo", help="Override the algorithm: PPO, A2C, DQN, SAC, TD3, MaskablePPO."),
    steps: int | None = typer.Option(None, "--steps", min=1, help="Override the total env steps."),
    seed: int | None = typer.Option(None, "--seed", min=0, help="Override the training seed."),
    device: str | None = typer.Option(None, "--device", help="auto (CPU for MLP policies), cpu, cuda or cuda:N."),
    backend: str | None = typer.Option(None, "--backend", help="Override env.backend: numpy, or torch (the env "
                                                                "steps on --device; AdAllocation and Pricing)."),
    n_envs: int | None = typer.Option(None, "--n-envs", min=1, help="Override env.n_envs."),
    out: str | None = typer.Option(None, "--out", help="Override the parent directory of run directories."),
    register: bool | None = typer.Option(None, "--register/--no-register",
                                         help="Register the exported policy as a candidate version (default: the "
                                              "config's register.enabled)."),
    tune: bool = typer.Option(False, "--tune", help="Run the config's tune section as a Ray Tune sweep."),
    ray_address: str | None = typer.Option(None, "--ray-address", help="Ray cluster address (default: a local Ray)."),
    num_cpus: int | None = typer.Option(None, "--num-cpus", min=1, help="CPUs of the local Ray (with --tune)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar while training."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics (or the sweep summary) as JSON."),
) -> None:
    """Train a policy on the simulator: evaluation on held-out seeds, TensorBoard logs, checkpoints, a run directory."""
    from agents.run_config import RunConfig, resolve_config

    with user_errors():
        cfg = RunConfig.from_toml(config).with_overrides(algo=algo, steps=steps, seed=seed, device=device, out=out,
                                                          register=register, backend=backend, n_envs=n_envs)
        if tune:
            from agents.tune import run_sweep

            result = run_sweep(cfg, ray_address=ray_address, num_cpus=num_cpus, verbose=0 if as_json else 1)
            if as_json:
                print_json({"sweep_dir": str(result.sweep_dir), "summary": result.summary, "best": result.best})
                return
            _print_sweep(result)
            return
        if ray_address is not None or num_cpus is not None:
            raise ValueError("--ray-address/--num-cpus: only with --tune")
        from agents.train import run_training

        result = run_training(cfg, progress=progress and not as_json, source_text=resolve_config(config).read_text())
    if as_json:
        print_json({**result.metrics, "run_dir": str(result.run_dir),
                    "registered": result.registered.ref if result.registered is not None else None})
        return
    ev = result.metrics["eval"]
    console.print(f"[bold]{cfg.name}[/bold]: {cfg.algo} on {cfg.env.id}, {result.metrics['steps']:,} env steps, "
                  f"seed {cfg.seed}")
    console.print(f"evaluation on {ev['n']} held-out seeds: mean return {ev['mean']:.4g} "
                  f"(95% interval {ev['ci95'][0]:.4g} to {ev['ci95'][1]:.4g})")
    console.print(f"run directory: {result.run_dir}  (tensorboard --logdir {result.run_dir / 'tb'})")
    if result.registered is not None:
        console.print(f"registered as {result.registered.ref} (candidate)")


def _print_sweep(result) -> None:
    from rich.table import Table

    table = Table(title=f"sweep: {result.sweep_dir}")
    for col in ("sample", "hyperparams", "seeds", "mean eval return", "95% interval"):
        table.add_column(col)
    for row in result.summary:
        mark = " *" if row["sample"] == result.best["sample"] else ""
        table.add_row(f"{row['sample']}{mark}", ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                                         for k, v in row["hyperparams"].items()) or "-",
                      str(row["seeds"]), f"{row['mean']:.4g}", f"{row['ci95'][0]:.4g} .. {row['ci95'][1]:.4g}")
    console.print(table)
