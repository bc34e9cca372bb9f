"""The decision API application: ``create_app()`` wires settings, registry, policy cache, log writer and routes.

Run it with ``retailrl serve`` (uvicorn, ``--workers N`` processes; each loads its own policies and VW workspaces
and writes its own log batches). Background tasks of each process: the policy cache's refresh loop and the
default-reward sweeper (idempotent, so every worker may run it), which also runs the registry's canary
guardrail (a canary clearly worse than the champion is rolled back, with the reason in the audit log).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

from fastapi import FastAPI

from policies.registry import Registry
from policies.registry.models import utcnow
from service.config import Settings
from service.deps import TokenCache
from service.log_writer import LogWriter
from service.metrics import Metrics
from service.policy_cache import PolicyCache
from service.routes import decisions, meta, rewards

log = logging.getLogger("retailrl.service")
API_VERSION = "1.0.0"
SWEEP_LIMIT = 10_000


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


class _BodyTooLarge(Exception):
    pass


class EdgeMiddleware:
    """Pure ASGI middleware: refuse bodies over ``max_body_bytes`` with 413, and count and time every request."""

    def __init__(self, app, max_body_bytes: int, metrics: Metrics):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

    async def _reply(self, send, status: int, text: bytes) -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(text)).encode())]})
        await send({"type": "http.response.body", "body": text})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = {"code": 500, "started": False}
        too_large = (b'{"detail":"request body too large: at most %d bytes"}' % self.max_body_bytes)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            await self._reply(send, 413, too_large)
            self._observe(scope, 413, start)
            return
        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    raise _BodyTooLarge
            return message

        async def watched_send(message):
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except _BodyTooLarge:
            if not status["started"]:
                await self._reply(send, 413, too_large)
                status["code"] = 413
        finally:
            self._observe(scope, status["code"], start)

    def _observe(self, scope, code: int, start: float) -> None:
        route = scope.get("route")
        label = getattr(route, "path", None) or "unmatched"
        self.metrics.requests.labels(label, scope.get("method", ""), str(code)).inc()
        self.metrics.latency.labels(label).observe(time.perf_counter() - start)


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


def create_app(settings: Settings | None = None) -> FastAPI:
    """The decision API.

    :param settings: default :meth:`Settings.from_env` (``DATABASE_URL``, ``RETAILRL_API_*``).
    """
    settings = settings or Settings.from_env()
    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry = Registry(settings.database_url)  # refuses an un-migrated database (SchemaOutOfDate)
        cache = PolicyCache(registry, metrics)
        await asyncio.to_thread(cache.refresh, True)
        writer = LogWriter(registry, settings.batch_max, settings.batch_wait_ms / 1000.0, metrics)
        await writer.start()
        state = ServiceState(settings, registry, metrics, cache, writer, TokenCache(registry, settings.token_ttl_s))
        app.state.service = state
        state.tasks.append(asyncio.create_task(_refresh_loop(state), name="retailrl-policy-refresh"))
        if settings.sweep_s > 0:
            state.tasks.append(asyncio.create_task(_sweep_loop(state), name="retailrl-default-rewards"))
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

    app = FastAPI(title="retailrl decision API", version=API_VERSION, lifespan=lifespan,
                  description="Contextual-bandit decisions and rewards, served from the policy registry's live and "
                              "canary versions. Authenticate with a registry API token: "
                              "`Authorization: Bearer <token>`.")
    app.include_router(decisions.router)
    app.include_router(rewards.router)
    app.include_router(meta.router)
    app.add_middleware(EdgeMiddleware, max_body_bytes=settings.max_body_bytes, metrics=metrics)
    return app
