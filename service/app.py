"""The decision API application: ``create_app()`` wires settings, registry, policy cache, log writer and routes.

Run it with ``retailrl serve`` (uvicorn, ``--workers N`` processes; each loads its own policies and VW workspaces
and writes its own log batches). Background tasks of each process: the policy cache's refresh loop and the
default-reward sweeper (idempotent, so every worker may run it), which also runs the registry's canary
guardrail (a canary clearly worse than the champion is rolled back, with the reason in the audit log).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

from fastapi import FastAPI

from policies.registry import Registry
from policies.registry.models import utcnow
from service.config import Settings
from service.deps import TokenCache
from service.edge import DecisionAPI
from service.log_store import LogStore
from service.log_writer import LogWriter
from service.metrics import Metrics
from service.models import DecisionRequest, RewardRequest
from service.policy_cache import PolicyCache
from service.routes import decisions, meta, rewards
from service.wire import add_schemas

log = logging.getLogger("retailrl.service")
API_VERSION = "1.0.0"
SWEEP_LIMIT = 10_000
NO_TELEMETRY = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
"""FastAPI's OpenTelemetry hooks, off: the service has its own Prometheus metrics, and the hooks check the global
providers on every request."""


@dataclass
class ServiceState:
    """Everything one server process holds (``app.state.service``)."""

    settings: Settings
    registry: Registry
    metrics: Metrics
    cache: PolicyCache
    writer: LogWriter
    tokens: TokenCache
    tasks: list[asyncio.Task] = field(default_factory=list)


async def _refresh_loop(state: ServiceState) -> None:
    while True:
        await asyncio.sleep(state.settings.refresh_s)
        await asyncio.to_thread(state.cache.refresh)


SWEEP_OVERLAP_S = 300.0


async def _sweep_loop(state: ServiceState) -> None:
    swept_to = None  # the first sweep reads the whole log; later ones only windows that ended since (with overlap)
    while True:
        await asyncio.sleep(state.settings.sweep_s)
        now = utcnow()
        try:
            n = await asyncio.to_thread(state.registry.assign_default_rewards, now=now,
                                        grace_s=state.settings.sweep_grace_s, limit=SWEEP_LIMIT,
                                        ended_after=swept_to)
            if n:
                state.metrics.default_rewards.inc(n)
            if n < SWEEP_LIMIT:
                swept_to = now - timedelta(seconds=state.settings.sweep_grace_s + SWEEP_OVERLAP_S)
        except Exception as exc:  # the next sweep tries again
            log.warning("default-reward sweep failed: %s", exc)
        try:
            await asyncio.to_thread(_guardrail, state)
        except Exception as exc:  # the next sweep tries again
            log.warning("canary guardrail check failed: %s", exc)


def _guardrail(state: ServiceState) -> None:
    """Run the registry's canary guardrail on every decision point with a canary; reload at once on a rollback.

    Idempotent across workers: the registry locks the decision point and a rolled-back canary is no longer one.
    """
    for point in state.registry.list_decision_points():
        if not any(arm == "challenger" for arm, _, _ in state.registry.traffic(point.name).arms):
            continue
        result = state.registry.check_canary(point.name)
        if result.verdict == "rolled_back":
            log.warning("guardrail rolled back %s on %s: %s", result.canary_ref, point.name, result.reason)
            state.cache.refresh(True)


def create_app(settings: Settings | None = None) -> DecisionAPI:
    """The decision API.

    :param settings: default :meth:`Settings.from_env` (``DATABASE_URL``, ``RETAILRL_API_*``).
    """
    settings = settings or Settings.from_env()
    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry = Registry(settings.database_url)  # refuses an un-migrated database (SchemaOutOfDate)
        cache = PolicyCache(registry, metrics)
        await asyncio.to_thread(cache.load)  # the current state before the first request (raises: no start)
        writer = LogWriter(LogStore(registry.engine, settings.write_timeout_s), settings.batch_max,
                           settings.batch_wait_ms / 1000.0, metrics)
        await writer.start()
        state = ServiceState(settings, registry, metrics, cache, writer, TokenCache(registry, settings.token_ttl_s))
        app.state.service = state
        state.tasks.append(asyncio.create_task(_refresh_loop(state), name="retailrl-policy-refresh"))
        if settings.sweep_s > 0:
            state.tasks.append(asyncio.create_task(_sweep_loop(state), name="retailrl-default-rewards"))
        # Everything loaded so far (libraries, policies) lives as long as the process: keep it out of the cyclic
        # garbage collector's full passes, which otherwise scan it all every few thousand requests and stall the
        # event loop (every request in flight) for ~100 ms.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            for task in state.tasks:
                task.cancel()
            for task in state.tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await writer.stop()
            cache.close()
            registry.close()

    app = DecisionAPI(title="retailrl decision API", version=API_VERSION, lifespan=lifespan, telemetry=NO_TELEMETRY,
                  description="Contextual-bandit decisions and rewards, served from the policy registry's live and "
                              "canary versions. Authenticate with a registry API token: "
                              "`Authorization: Bearer <token>`.")
    app.include_router(decisions.router)
    app.include_router(rewards.router)
    app.include_router(meta.router)
    app.add_edge(settings.max_body_bytes, metrics, {("POST", "/v1/decisions"): decisions.post_decision,
                                                    ("POST", "/v1/rewards"): rewards.post_reward})
    add_schemas(app, [DecisionRequest, RewardRequest])
    return app
