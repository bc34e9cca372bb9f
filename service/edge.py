"""The outermost layer of the API: body size limit, request metrics, and the hot endpoints' short path.

Every request is counted and timed (``retailrl_api_requests_total``, ``retailrl_api_request_seconds``) and a
body over ``max_body_bytes`` gets 413. ``POST /v1/decisions`` and ``POST /v1/rewards`` (the load a shop sends)
skip FastAPI's middleware stack, routing and dependency solving, which cost more CPU than the decision itself:
the edge reads the body and calls the very route functions FastAPI has registered (so there is one
implementation, and the OpenAPI document describes it), turning ``HTTPException`` and
``RequestValidationError`` into FastAPI's own error responses. Everything else goes through FastAPI.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

log = logging.getLogger("retailrl.service")
Handler = Callable[[Request], Awaitable[Response]]


class _BodyTooLarge(Exception):
    pass


class DecisionAPI(FastAPI):
    """FastAPI with :class:`Edge` in front: ``app.edge`` sees every HTTP request first."""

    edge: Edge | None = None

    async def __call__(self, scope, receive, send) -> None:
        if self.edge is None or scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        scope["app"] = self
        await self.edge(scope, receive, send)

    def add_edge(self, max_body_bytes: int, metrics: Any, hot: dict[tuple[str, str], Handler]) -> None:
        """Put the edge in front (see the module docstring).

        :param hot: ``(method, path) -> route function`` of the endpoints served on the short path; each must
            also be registered as that route of this app (for the OpenAPI document and the error handling).
        """
        self.edge = Edge(lambda scope, receive, send: FastAPI.__call__(self, scope, receive, send), max_body_bytes,
                         metrics, hot)


class Edge:
    """See the module docstring.

    :param app: the rest of the application (FastAPI's own stack).
    :param max_body_bytes: larger bodies get 413.
    :param metrics: a :class:`service.metrics.Metrics`.
    :param hot: ``(method, path) -> route function`` served on the short path.
    """

    def __init__(self, app, max_body_bytes: int, metrics: Any, hot: dict[tuple[str, str], Handler]):
        self.app = app
        self.max_body_bytes = int(max_body_bytes)
        self.metrics = metrics
        self.hot = dict(hot)
        self.too_large = b'{"detail":"request body too large: at most %d bytes"}' % self.max_body_bytes

    async def _reply_too_large(self, send) -> None:
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(self.too_large)).encode())]})
        await send({"type": "http.response.body", "body": self.too_large})

    async def __call__(self, scope, receive, send) -> None:
        start = time.perf_counter()
        status = {"code": 500, "started": False}
        method, path = scope["method"], scope["path"]
        label = path if (method, path) in self.hot else None
        try:
            for name, value in scope["headers"]:
                if name == b"content-length" and (not value.isdigit() or int(value) > self.max_body_bytes):
                    await self._reply_too_large(send)
                    status["code"] = 413
                    return

            async def watched_send(message):
                if message["type"] == "http.response.start":
                    status["code"], status["started"] = message["status"], True
                await send(message)

            if label is not None:
                if not await self._hot(self.hot[(method, path)], scope, receive, watched_send):
                    status["code"] = 499  # the client went away before sending its body: nothing to answer
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

            await self.app(scope, limited_receive, watched_send)
        except _BodyTooLarge:
            if not status["started"]:
                await self._reply_too_large(send)
                status["code"] = 413
        finally:
            if label is None:
                route = scope.get("route")
                label = getattr(route, "path", None) or "unmatched"
            self.metrics.request(label, method, status["code"], time.perf_counter() - start)

    async def _hot(self, handler: Handler, scope, receive, send) -> bool:
        """Read the body, call ``handler``, send its response; ``False`` when the client left first."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return False
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        request = Request(scope, replay)
        try:
            try:
                response = await handler(request)
            except HTTPException as exc:
                response = await http_exception_handler(request, exc)
            except RequestValidationError as exc:
                response = await request_validation_exception_handler(request, exc)
        except Exception:  # what FastAPI's ServerErrorMiddleware would answer, logged
            log.exception("%s %s failed", scope["method"], scope["path"])
            response = JSONResponse({"detail": "internal server error"}, status_code=500)
        await response(scope, replay, send)
        return True
