"""`retailrl bench`: benchmarks of simulator speed (and, from other issues, decision quality)."""

from __future__ import annotations

import typer

from retailrl.cli._common import console, print_json, user_errors

app = typer.Typer(no_args_is_help=True)


@app.command("env")
def env(
    num_envs: int = typer.Option(4096, "--num-envs", min=1, help="Sub-environments per vector env."),
    steps: int = typer.Option(200, "--steps", min=1, help="Vector steps timed per env (best of 3 rounds)."),
    single_steps: int = typer.Option(20_000, "--single-steps", min=1, help="Single-env steps timed per env."),
    seed: int = typer.Option(0, "--seed", help="Seed of the environments and of the random actions."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Time random-action stepping of each vector env beside gymnasium's CartPoleVectorEnv, and each single env."""
    from envs.speed import GOAL_SINGLE_STEPS, GOAL_VECTOR_RATIO, run

    with user_errors():
        if as_json:
            results = run(num_envs=num_envs, vector_steps=steps, single_steps=single_steps, seed=seed)
            print_json(results)
            return
        with console.status("timing the environments ..."):
            results = run(num_envs=num_envs, vector_steps=steps, single_steps=single_steps, seed=seed)
    from rich.table import Table

    table = Table(title=f"environment speed, num_envs={num_envs} (best CartPoleVectorEnv: "
                        f"{results['cartpole_vector_steps_per_s']:,.0f} steps/s)")
    for col in ("env", "vector steps/s", "x CartPole", "single steps/s"):
        table.add_column(col, justify="right" if col != "env" else "left")
    for env_id, row in results["envs"].items():
        table.add_row(env_id, f"{row['vector_steps_per_s']:,.0f}", f"{row['ratio_to_cartpole']:.2f}",
                      f"{row['single_steps_per_s']:,.0f}")
    console.print(table)
    console.print(f"goals: vector >= {GOAL_VECTOR_RATIO:.0%} of CartPoleVectorEnv (AdAllocation, Pricing); "
                  f"single env >= {GOAL_SINGLE_STEPS:,} steps/s")


@app.command("policies")
def policies(
    only: list[str] = typer.Option(None, "--only", help="Record names to compute (repeatable); default: all."),
    quick: bool = typer.Option(False, "--quick", help="Tiny training budgets (for tests; targets not expected met)."),
    as_json: bool = typer.Option(False, "--json", help="Print the JSON list of records instead of a table."),
) -> None:
    """Decision quality: every trained policy and baseline against its env's oracle (one record per benchmark)."""
    from benchmarks.bench_policies import compute_records

    with user_errors():
        records = compute_records(only or None, quick)
    if as_json:
        print_json(records)
        return
    from rich.table import Table

    table = Table(title="decision quality (ratio: 1.0 is the oracle)")
    for col in ("record", "value", "oracle", "ratio", "95% CI", "target", "met"):
        table.add_column(col, justify="left" if col == "record" else "right")

    def fmt(x) -> str:
        return "-" if x is None else f"{x:.4g}"

    for r in records:
        ci = "-" if r["ci"] is None else f"[{r['ci'][0]:.4f}, {r['ci'][1]:.4f}]"
        table.add_row(r["name"], fmt(r["value"]), fmt(r["oracle"]), fmt(r["ratio"]), ci, fmt(r["target"]),
                      "yes" if r["met"] else "[red]no")
    console.print(table)
