"""`retailrl ope`: off-policy evaluation of a policy on logged data.

``retailrl ope run --logs obd:random/all --action-dist pi.npy --estimators ipw,dr --json`` prints one JSON record
per estimator; without ``--json`` a table. ``--report DIR`` also writes the markdown report with its forest plot.
"""

from __future__ import annotations

from pathlib import Path

import typer

from retailrl.cli._common import console, print_json, user_errors

app = typer.Typer(no_args_is_help=True)


@app.callback()
def ope() -> None:
    """Off-policy evaluation of a policy on logged data."""


@app.command("estimators")
def estimators_list() -> None:
    """List the estimator names `ope run --estimators` accepts."""
    from policies.ope import estimators as registry

    typer.echo(registry.__doc__.split("\n\n", 1)[1])


def load_logs(spec: str, mapping: Path | None = None, n_actions: int | None = None, n_positions: int | None = None):
    """``obd:POLICY/CAMPAIGN`` (the Open Bandit Dataset sample) or a CSV/Parquet path (mapped when ``mapping``).

    ``n_actions`` / ``n_positions`` (from the evaluated policy) size the action space of a file's log; without
    them it is inferred from the largest logged ids.
    """
    from sim_data.logs import BanditLog

    if spec.startswith("obd:"):
        from sim_data.sources.obd import load_obd

        policy, sep, campaign = spec[4:].partition("/")
        if not sep:
            raise ValueError(f"--logs {spec!r}: expected obd:POLICY/CAMPAIGN, e.g. obd:random/all or obd:bts/men")
        return load_obd(policy=policy, campaign=campaign)
    from sim_data.io import read_table
    from sim_data.mapping import Mapping

    frame = read_table(spec)
    if mapping is not None:
        frame = Mapping.load(mapping).apply(frame, "bandit")
    return BanditLog.from_frame(frame, n_actions=n_actions, n_positions=n_positions, logging_policy="logged")


def policy_shape(policy) -> tuple[int | None, int | None]:
    """``(n_actions, n_positions)`` of a Policy or an action-distribution array (``None`` when it has no such shape)."""
    if hasattr(policy, "n_actions"):
        return int(policy.n_actions), int(policy.n_positions)
    shape = getattr(policy, "shape", ())
    return (int(shape[-2]), int(shape[-1])) if len(shape) in (2, 3) else (None, None)


def load_policy(action_dist: Path | None, artefact: Path | None, registered: str | None, what: str):
    """The evaluation policy from exactly one of the three sources; ``None`` when none is given."""
    given = [x for x in (action_dist, artefact, registered) if x is not None]
    if len(given) > 1:
        raise ValueError(f"{what}: give only one of an action-distribution file, a policy artefact or a registry name")
    if registered is not None:
        from policies.policy import Policy
        from policies.registry import Registry
        from policies.registry.artefacts import open_artefact

        version = Registry().get_version(registered)  # DATABASE_URL, else the default SQLite registry
        return Policy.load(open_artefact(version.artefact_uri, version.artefact_sha256))
    if artefact is not None:
        from policies.policy import Policy

        return Policy.load(artefact)
    if action_dist is not None:
        import numpy as np

        if not Path(action_dist).is_file():
            raise FileNotFoundError(f"{what}: no such file: {action_dist}")
        return np.load(action_dist, allow_pickle=False)
    return None


@app.command("run")
def run(
    logs: str = typer.Option(..., "--logs", help="obd:POLICY/CAMPAIGN (e.g. obd:random/all), a CSV/Parquet file, "
                             "a directory of Parquet files or a glob (quote it)."),
    mapping: Path = typer.Option(None, "--mapping", help="A MAP.toml column mapping for a --logs file."),
    action_dist: Path = typer.Option(None, "--action-dist",
                                     help=".npy of shape (n_actions, n_positions) or (n_rounds, n_actions, n_positions)."),
    policy_artefact: Path = typer.Option(None, "--policy-artefact", help="A saved policy directory."),
    policy: str = typer.Option(None, "--policy", help="NAME@VERSION (or NAME:VERSION) of a registered version: its artefact, checked against its sha256."),
    estimators: str = typer.Option(",".join(("dm", "ipw", "snipw", "dr", "sndr", "switch-dr", "dr-os")),
                                   "--estimators", help="Comma-separated estimator names (name:param=value allowed)."),
    confidence: float = typer.Option(0.95, "--confidence", help="Level of the intervals and lower bounds."),
    n_resamples: int = typer.Option(200, "--n-resamples", help="Bootstrap resamples."),
    lower_bound: str = typer.Option("t", "--lower-bound", help="t or bernstein."),
    n_folds: int = typer.Option(3, "--n-folds", help="Cross-fitting folds of the reward model."),
    seed: int = typer.Option(0, "--seed"),
    champion_action_dist: Path = typer.Option(None, "--champion-action-dist", help="The current champion, as .npy."),
    champion_artefact: Path = typer.Option(None, "--champion-artefact", help="The current champion, as an artefact."),
    report: Path = typer.Option(None, "--report", help="Write report.md, report.json and forest.png into this directory."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list, one record per estimator."),
    engine: str = typer.Option("auto", "--engine", help="memory (load the log), local (stream it in row batches), "
                               "ray (stream it as Ray Data tasks), or auto: local for a directory or glob, "
                               "memory otherwise."),
    ray_address: str = typer.Option(None, "--ray-address", help="--engine ray: the cluster to join (e.g. auto or "
                                    "ray://HOST:10001); a local Ray instance when omitted."),
    workers: int = typer.Option(2, "--workers", help="Streaming: threads (local) or concurrent Ray tasks (ray)."),
    batch_size: int = typer.Option(131_072, "--batch-size", help="Streaming: rows per record batch."),
    reward_sample: int = typer.Option(100_000, "--reward-sample",
                                      help="Streaming: at most this many rows fit the DM/DR reward model."),
) -> None:
    """Estimate a policy's value on logged data with several estimators, intervals and overlap diagnostics."""
    with user_errors():
        from policies.ope.estimators import parse_estimators
        from policies.ope.report import build_report
        from policies.ope.run import evaluate_log

        candidate = load_policy(action_dist, policy_artefact, policy, "policy")
        if candidate is None:
            raise ValueError("give the policy to evaluate: --action-dist FILE.npy, --policy-artefact DIR or --policy "
                             "NAME@VERSION")
        champion = load_policy(champion_action_dist, champion_artefact, None, "champion")
        parse_estimators(estimators)  # fail on a bad name before loading anything heavy
        options = dict(estimators=estimators, n_folds=n_folds, confidence=confidence, n_resamples=n_resamples,
                       seed=seed, lower_bound_method=lower_bound)
        engine = resolve_engine(logs, engine, ray_address)
        paths = None
        if engine != "memory":
            if mapping is not None:
                raise ValueError(f"--mapping: not available when streaming (--engine {engine}); write the log "
                                 "in the canonical columns (retailrl data validate DIR checks it) or evaluate "
                                 "it in memory with --engine memory")
            stream = dict(engine=engine, ray_address=ray_address, workers=workers, batch_size=batch_size,
                          max_sample_rows=reward_sample, **options)
            if report is not None:
                built = _stream_report(logs, candidate, champion, stream)
                evaluation = built.evaluations[0]
                paths = built.save(report)
            else:
                evaluation = _stream(logs, candidate, stream)
        elif report is not None:
            log = load_logs(logs, mapping, *policy_shape(candidate))
            built = build_report(log, candidate, champion=champion, title=f"Off-policy evaluation on {logs}", **options)
            evaluation = built.evaluations[0]
            paths = built.save(report)
        else:
            log = load_logs(logs, mapping, *policy_shape(candidate))
            evaluation = evaluate_log(log, candidate, name="candidate", **options)
        records = [{"policy": evaluation.policy, **r.to_dict()} for r in evaluation.results]
    if as_json:
        print_json(records)
    else:
        _print_table(records, evaluation.notes)
        if evaluation.run:
            info = evaluation.run
            fitted = info.get("reward_model")
            console.print(f"streamed {evaluation.n_rounds:,} rows from {info['files']} file(s) in {info['units']} "
                          f"unit(s) on the {info['engine']} engine ({info['workers']} workers)"
                          + (f"; reward model cross-fitted ({fitted['folds']} folds) on {fitted['sample_rows']:,} "
                             "rows, each row predicted out of its fold" if fitted else ""))
        if paths:
            console.print(f"report written: {paths['markdown']} (forest plot {paths['forest_png']})")


ENGINES = ("auto", "memory", "local", "ray")


def resolve_engine(logs: str, engine: str, ray_address: str | None) -> str:
    """``memory``, ``local`` or ``ray`` for ``--engine`` (``auto``: local for a directory or a glob, else memory)."""
    if engine not in ENGINES:
        raise ValueError(f"--engine {engine!r}: expected one of {', '.join(ENGINES)}")
    if ray_address is not None and engine not in ("ray", "auto"):
        raise ValueError("--ray-address: only with --engine ray")
    if engine == "auto":
        if ray_address is not None:
            return "ray"
        streamable = not logs.startswith("obd:") and (Path(logs).is_dir() or any(ch in logs for ch in "*?["))
        return "local" if streamable else "memory"
    if engine != "memory" and logs.startswith("obd:"):
        raise ValueError(f"--logs {logs}: the OBD sample is evaluated in memory; export it to Parquet "
                         "(retailrl data export obd --out DIR/part-0.parquet) to stream it")
    return engine


def _stream(logs, candidate, stream: dict):
    from policies.ope.stream import evaluate_stream
    from retailrl.cli._common import RowProgress

    with RowProgress() as progress:
        return evaluate_stream(logs, candidate, name="candidate", progress=progress, **stream)


def _stream_report(logs, candidate, champion, stream: dict):
    from policies.ope.stream_report import build_stream_report
    from retailrl.cli._common import RowProgress

    with RowProgress() as progress:
        return build_stream_report(logs, candidate, champion=champion, progress=progress,
                                   title=f"Off-policy evaluation on {logs}", **stream)


def _print_table(records: list[dict], notes: list[str]) -> None:
    from rich.table import Table

    table = Table(title="Off-policy estimates")
    for col in ("estimator", "estimate", "interval", "lower bound", "ESS", "max weight", "never taken"):
        table.add_column(col, justify="left" if col in ("estimator", "interval") else "right")
    for r in records:
        d = r["diagnostics"]
        table.add_row(r["label"], f"{r['estimate']:.6g}", f"[{r['ci'][0]:.6g}, {r['ci'][1]:.6g}]",
                      f"{r['lower_bound']:.6g}", f"{d['ess']:,.0f}", f"{d['max_weight']:.4g}",
                      f"{d['never_taken_share']:.1%}")
    console.print(table)
    warnings = list(dict.fromkeys(w for r in records for w in r["diagnostics"].get("warnings", [])))
    for w in list(notes) + [w for w in warnings if w not in notes]:
        console.print(f"[yellow]warning:[/yellow] {w}")
