"""`retailrl loop shop.toml --out DIR`: a shop's own logs fit, train, evaluate and register (see retailrl.loop)."""

from __future__ import annotations

from pathlib import Path

import typer

from retailrl.cli._common import console, print_json, user_errors


def loop(
    shop: Path = typer.Argument(..., help="The shop's shop.toml naming its bandit, choice and stock tables."),
    out: Path = typer.Option(..., help="Loop directory: fits/, artefacts/, reports/, report.md, loop.json."),
    register: bool = typer.Option(True, "--register/--no-register", help="Register the candidates and request "
                                  "approval (DATABASE_URL, else the SQLite registry)."),
    size: str | None = typer.Option(None, help="tiny (smallest budgets, for a first look or tests) or full; "
                                    "default: shop.toml's [loop] size, else full."),
    as_json: bool = typer.Option(False, "--json", help="Print loop.json instead of a summary."),
) -> None:
    """Validate the shop's tables, fit the simulators, build and evaluate candidates, register them."""
    from retailrl.loop import run_loop

    with user_errors():
        with console.status("retailrl loop", spinner="dots") as status:
            def progress(message: str) -> None:
                status.update(message)
                console.log(message)

            result = run_loop(shop, out, status=progress, register=register, size=size)
    if as_json:
        print_json(result)
        return
    for kind, why in result["skipped"].items():
        console.print(f"skipped {kind}: {why}")
    for v in result["registered"].values():
        console.print(f"registered [bold]{v['ref']}[/bold] at {v['decision_point']} ({v['state']})")
    console.print(f"wrote [bold]{Path(out) / 'report.md'}[/bold] and loop.json")
