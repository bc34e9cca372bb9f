"""`retailrl sim`: fit the shopper simulator's behaviour models from logs and report their fidelity."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from retailrl.cli._common import console, print_json, user_errors

app = typer.Typer(no_args_is_help=True)

SOURCES_HELP = ("obd, a scanner panel (cracker, catsup, yogurt, tuna, oj), synthetic, or a shop's own file "
                "(CSV, Parquet, a Parquet directory) with --kind")


def fidelity_table(fidelity: dict) -> Table:
    table = Table(title=f"fidelity: {fidelity['source']}", header_style="bold")
    table.add_column("quantity")
    table.add_column("value", overflow="fold")
    src = fidelity["source"]
    if src == "obd":
        lo, hi = fidelity["onpolicy_ci"]
        rows = [("campaign", fidelity["campaign"]), ("simulated CTR", f"{fidelity['simulated_ctr']:.5f}"),
                ("on-policy CTR [95% CI]", f"{fidelity['onpolicy_ctr']:.5f} [{lo:.5f}, {hi:.5f}]"),
                ("inside interval", str(fidelity["inside_ci"])),
                ("simulated 95% CI (parameter uncertainty)",
                 f"[{fidelity['simulated_ci'][0]:.5f}, {fidelity['simulated_ci'][1]:.5f}]"),
                ("simulated - logged [95% CI]", f"{fidelity['difference']['estimate']:+.5f} "
                 f"[{fidelity['difference']['ci'][0]:+.5f}, {fidelity['difference']['ci'][1]:+.5f}]"),
                ("agrees within error bars", str(fidelity["agrees"])),
                ("log-loss model / constant", f"{fidelity['logloss']:.5f} / {fidelity['constant_logloss']:.5f}"),
                ("position bias", ", ".join(f"{v:.3f}" for v in fidelity["position_bias"]["estimate"]))]
    elif src == "bandit_file":
        lo, hi = fidelity["onpolicy_ci"]
        rows = [("file", fidelity["file"]), ("fit / replayed rows", f"{fidelity['train_rows']:,} / {fidelity['eval_rows']:,}"),
                ("simulated CTR (replayed)", f"{fidelity['simulated_ctr']:.5f}"),
                ("logged CTR [95% CI]", f"{fidelity['onpolicy_ctr']:.5f} [{lo:.5f}, {hi:.5f}]"),
                ("inside interval", str(fidelity["inside_ci"])),
                ("simulated 95% CI (parameter uncertainty)",
                 f"[{fidelity['simulated_ci'][0]:.5f}, {fidelity['simulated_ci'][1]:.5f}]"),
                ("simulated - logged [95% CI]", f"{fidelity['difference']['estimate']:+.5f} "
                 f"[{fidelity['difference']['ci'][0]:+.5f}, {fidelity['difference']['ci'][1]:+.5f}]"),
                ("agrees within error bars", str(fidelity["agrees"])),
                ("log-loss model / constant", f"{fidelity['logloss']:.5f} / {fidelity['constant_logloss']:.5f}"),
                ("position bias", ", ".join(f"{v:.3f}" for v in fidelity["position_bias"]["estimate"]))]
    elif src == "stock":
        h = fidelity["held_out"]
        rows = [(f"demand {v['product']} [95% CI] / naive mean of sales",
                 f"{v['estimate']:.3f} [{v['ci'][0]:.3f}, {v['ci'][1]:.3f}] / {v['naive_mean']:.3f} "
                 f"(stock-outs {v['stockout_share']:.0%}, {v['family']})") for v in fidelity["products"][:20]]
        rows.append(("lead time used by the simulator", str(fidelity["env_lead_time"])))
        rows += [(f"held-out sales {r['product']}: observed / simulated [95%]",
                  f"{r['observed']:.3f} / {r['simulated']:.3f} [{r['simulated_ci'][0]:.3f}, {r['simulated_ci'][1]:.3f}]")
                 for r in h["products"][:20]]
    elif src == "synthetic":
        rows = [(f"coverage ({k})", f"{v['coverage']:.0%}") for k, v in fidelity["choice"].items()]
        rows.append(("position bias true / est", f"{fidelity['click']['true_position_bias']} / "
                     + ", ".join(f"{v:.3f}" for v in fidelity["click"]["position_bias"])))
    else:
        h = fidelity["heldout"]
        rows = [("held-out log-lik/occasion model", f"{h['loglik_per_occasion']:.4f}"),
                ("held-out log-lik/occasion brand shares", f"{h['baseline_loglik_per_occasion']:.4f}"),
                ("beats baseline", str(h["beats_baseline"])),
                ("own-price elasticities", ", ".join(f"{p} {v['estimate']:.2f}"
                                                     for p, v in fidelity["own_price_elasticities"].items()))]
    for k, v in rows:
        table.add_row(k, v)
    return table


@app.command("fit")
def fit(
    source: str = typer.Argument(..., help=SOURCES_HELP),
    out: Path = typer.Option(..., help="Fit directory: fidelity.json, fidelity.md, plots, models, params.json."),
    campaign: str = typer.Option("all", help="OBD campaign: all, men or women."),
    train_policy: str = typer.Option("random", help="OBD: the logs the click model is fit on."),
    eval_policy: str = typer.Option("bts", help="OBD: the logs replayed through the fitted model."),
    path: Path | None = typer.Option(None, help="OBD: directory of the full dataset (default: the 10k sample)."),
    click_solver: str = typer.Option("auto", help="OBD: the click model's solver: fisher (dense, exact), torch "
                                     "(CG steps, for many items or features) or auto (torch above 2,000 features)."),
    click_device: str = typer.Option("auto", help="OBD: the torch solver's device: auto (a GPU if present), cpu, cuda."),
    outside_share: float = typer.Option(0.5, help="Scanner panels: assumed no-purchase share of shopping trips."),
    n_classes: int = typer.Option(1, help="Scanner panels: latent classes of the choice model."),
    seed: int = typer.Option(0, help="Synthetic: seed of the worlds."),
    kind: str | None = typer.Option(None, help="A shop's file: bandit, choice or stock."),
    mapping: Path | None = typer.Option(None, help="A shop's file: the mapping TOML (columns, ids, constants)."),
    instruments: str | None = typer.Option(None, help="Choice file: comma-separated instrument columns (cost "
                                           "shifters) for the control function."),
    test_share: float = typer.Option(0.2, help="A shop's file: the later share of the log held out for fidelity."),
    as_json: bool = typer.Option(False, "--json", help="Print fidelity.json instead of a table."),
) -> None:
    """Fit behaviour models from a source and write DIR/fidelity.json, DIR/fidelity.md and DIR/params.json."""
    from envs.fit import SCANNER, SOURCES, fit_source

    with user_errors():
        if kind is not None or source not in SOURCES:
            if kind is None:
                raise ValueError(f"unknown source {source!r}: expected {SOURCES_HELP}")
            from envs.fit_logs import fit_file

            kwargs = {"path": source, "kind": kind, "mapping": mapping, "test_share": test_share,
                      "instruments": [c.strip() for c in instruments.split(",") if c.strip()] if instruments else (),
                      "outside_share": outside_share, "n_classes": n_classes}
            if kind == "bandit":
                kwargs["click_kwargs"] = {"solver": click_solver, "device": click_device}
            fit_fn = fit_file
        elif source == "obd":
            from envs.models.click import SOLVERS

            if click_solver not in SOLVERS:
                raise ValueError(f"--click-solver: expected one of {', '.join(SOLVERS)}, found {click_solver!r}")
            kwargs = {"campaign": campaign, "train_policy": train_policy, "eval_policy": eval_policy, "path": path,
                      "click_kwargs": {"solver": click_solver, "device": click_device}}
        elif source in SCANNER:
            kwargs = {"outside_share": outside_share, "n_classes": n_classes}
        elif source == "synthetic":
            kwargs = {"seed": seed}
        else:
            raise ValueError(f"unknown source {source!r}: expected {SOURCES_HELP}")
        with console.status(f"fitting {source}", spinner="dots") as status:
            def progress(message: str) -> None:
                status.update(message)
                console.log(message)

            if kind is not None or source not in SOURCES:
                fidelity = fit_fn(out=out, progress=progress, **kwargs)
            else:
                fidelity = fit_source(source, out, progress=progress, **kwargs)
    if as_json:
        print_json(fidelity)
    else:
        console.print(fidelity_table(fidelity))
        console.print(f"wrote [bold]{out / 'fidelity.json'}[/bold], [bold]{out / 'fidelity.md'}[/bold], "
                      f"params.json and the fitted models")
