"""`retailrl serve`: start the bandit decision API (uvicorn) on the registry's live and canary policies."""

from __future__ import annotations

import os

import typer

from retailrl.cli._common import user_errors


def serve(host: str = typer.Option("127.0.0.1", help="Interface to listen on (loopback by default)."),
          port: int = typer.Option(8000, help="TCP port."),
          workers: int = typer.Option(1, min=1, help="Worker processes (each loads its own policies)."),
          db: str = typer.Option(None, "--db", help="Registry database URL (default: DATABASE_URL, else "
                                                     "registry.db in the data directory)."),
          log_level: str = typer.Option("warning", help="uvicorn log level."),
          access_log: bool = typer.Option(False, "--access-log/--no-access-log", help="Log every request.")) -> None:
    """Start the decision API: POST /v1/decisions, POST /v1/rewards, GET /metrics, OpenAPI at /docs."""
    import uvicorn

    from policies.registry import Registry
    from policies.registry.config import database_url, redact

    with user_errors():
        url = database_url(db)
        Registry(url).close()  # fail now, with the upgrade command, on a missing or old database
    os.environ["DATABASE_URL"] = url  # the workers (other processes) read their settings from the environment
    os.environ.pop("RETAILRL_API_DATABASE_URL", None)
    typer.echo(f"retailrl decision API on http://{host}:{port} ({workers} worker{'s' * (workers > 1)}, registry "
               f"{redact(url)}); OpenAPI at /docs", err=True)
    uvicorn.run("service.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, access_log=access_log, timeout_graceful_shutdown=10)


def learner(decision_point: str = typer.Option(..., help="Decision point whose joined logs it learns from."),
            policy: str = typer.Option(..., help="Policy name of the candidate versions it publishes."),
            out: str = typer.Option(..., help="Directory for the published artefacts."),
            db: str = typer.Option(None, "--db", help="Registry database URL (default: DATABASE_URL)."),
            publish_every: int = typer.Option(1000, help="Publish a candidate after this many new rewards."),
            publish_interval: float = typer.Option(300.0, help="...or after this many seconds with new rewards."),
            poll: float = typer.Option(2.0, help="Seconds between reads when nothing new is logged."),
            once: bool = typer.Option(False, "--once", help="Learn what is logged, publish, exit.")) -> None:
    """Online learner: joined decision/reward logs -> VW -> candidate versions (promoted only by the registry's
    rules). Needs RETAILRL_LEARNER_TOKEN, an API token of a requester."""
    from service.learner import main

    args = ["--decision-point", decision_point, "--policy", policy, "--out", out, "--publish-every", str(publish_every),
            "--publish-interval", str(publish_interval), "--poll", str(poll)]
    args += ["--db", db] if db else []
    args += ["--once"] if once else []
    main(args)
