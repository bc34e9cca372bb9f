"""Request dependencies: the service state, and token authentication with roles.

Tokens are the registry's API tokens (``retailrl registry token create``), sent as ``Authorization: Bearer
<token>``. A token's user is cached for ``token_ttl_s`` (a revoked token stops working within that time); unknown
tokens are remembered briefly so a flood of bad tokens does not become a flood of queries. Reading needs any
active user; deciding and rewarding need a role other than ``viewer``.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from policies.registry import AuthenticationFailed, UserRecord

WRITER_ROLES = frozenset({"requester", "approver", "admin"})
UNKNOWN_TOKEN_TTL_S = 5.0
MAX_CACHED_TOKENS = 10_000

bearer = HTTPBearer(auto_error=False, description="an API token of the policy registry")


@dataclass
class _Cached:
    user: UserRecord | None
    expires: float


class TokenCache:
    """Token hash -> the user it authenticates (or ``None`` for a refused token), with expiry."""

    def __init__(self, registry: Any, ttl_s: float):
        self.registry = registry
        self.ttl_s = float(ttl_s)
        self._entries: dict[str, _Cached] = {}

    async def user(self, token: str) -> UserRecord:
        key = hashlib.sha256(token.encode("utf-8")).hexdigest()
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit is None or hit.expires < now:
            try:
                user = await asyncio.to_thread(self.registry.authenticate_token, token)
                hit = _Cached(user, now + self.ttl_s)
            except AuthenticationFailed:
                hit = _Cached(None, now + min(self.ttl_s, UNKNOWN_TOKEN_TTL_S))
            if len(self._entries) >= MAX_CACHED_TOKENS:
                self._entries.clear()
            self._entries[key] = hit
        if hit.user is None:
            raise HTTPException(401, "unknown, revoked or deactivated API token",
                                headers={"WWW-Authenticate": "Bearer"})
        return hit.user


async def service(request: Request) -> Any:
    """The process's :class:`service.app.ServiceState` (async: a plain ``def`` would cost a thread hop per request)."""
    return request.app.state.service


MISSING_TOKEN = "missing API token: send 'Authorization: Bearer <token>'"


def _refuse(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


async def _user_of(request: Request, token: str | None) -> UserRecord:
    if not token:
        raise _refuse(MISSING_TOKEN)
    if len(token) > 512:
        raise _refuse("malformed API token")
    return await request.app.state.service.tokens.user(token)


def _check_writer(user: UserRecord) -> UserRecord:
    if user.role not in WRITER_ROLES:
        raise HTTPException(403, f"user {user.username!r} has role {user.role!r}; deciding and rewarding need one "
                                 f"of {sorted(WRITER_ROLES)}")
    return user


async def current_user(request: Request,
                       credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> UserRecord:
    """The authenticated user (401 without a valid bearer token)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _refuse(MISSING_TOKEN)
    return await _user_of(request, credentials.credentials)


async def writer_user(request: Request,
                      credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> UserRecord:
    """An authenticated user allowed to ask for decisions and send rewards (403 for viewers)."""
    return _check_writer(await current_user(request, credentials))


async def authorize_writer(request: Request) -> UserRecord:
    """:func:`writer_user` for the hot endpoints, which read the ``Authorization`` header themselves (no
    dependency injection per request): 401 without a valid bearer token, 403 for viewers."""
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer":
        raise _refuse(MISSING_TOKEN)
    return _check_writer(await _user_of(request, token))
