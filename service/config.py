"""The decision API's settings: read once from the environment (``RETAILRL_API_*``) into a frozen dataclass."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from policies.registry.config import database_url

ENV_PREFIX = "RETAILRL_API_"


@dataclass(frozen=True)
class Settings:
    """What the server needs to know; every field can be set as ``RETAILRL_API_<FIELD>`` (upper case).

    :param database_url: the registry database (``DATABASE_URL``, else ``registry.db`` in the data directory).
    :param max_body_bytes: larger request bodies get 413.
    :param batch_max: most log rows committed in one transaction.
    :param batch_wait_ms: how long the log writer waits to fill a batch once it has a row (0: commit at once).
    :param write_timeout_s: how long a log batch may wait for a database lock before its requests get 503.
    :param refresh_s: how often the policy cache asks the registry whether what it serves changed (a kill,
        rollback or promotion made anywhere reaches this process within about this long).
    :param token_ttl_s: how long an authenticated API token is trusted before it is checked again.
    :param sweep_s: how often decisions whose reward window ended get the default reward (0: never).
    :param sweep_grace_s: a window must have ended this long ago before its default reward is logged.
    """

    database_url: str
    max_body_bytes: int = 65_536
    batch_max: int = 256
    batch_wait_ms: float = 0.0
    write_timeout_s: float = 5.0
    refresh_s: float = 0.5
    token_ttl_s: float = 30.0
    sweep_s: float = 5.0
    sweep_grace_s: float = 5.0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Settings from ``environ`` (default ``os.environ``); a malformed value raises naming the variable."""
        environ = dict(os.environ if environ is None else environ)
        values: dict = {"database_url": database_url(environ.get(ENV_PREFIX + "DATABASE_URL")
                                                     or environ.get("DATABASE_URL"))}
        for f in fields(cls):
            if f.name == "database_url":
                continue
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is None:
                continue
            kind = int if isinstance(f.default, int) else float
            try:
                value = kind(raw)
            except ValueError:
                raise ValueError(f"{ENV_PREFIX}{f.name.upper()}: expected {'a whole' if kind is int else 'a'} "
                                 f"number, found {raw!r}") from None
            if value < 0:
                raise ValueError(f"{ENV_PREFIX}{f.name.upper()}: expected a number >= 0, found {raw!r}")
            values[f.name] = value
        return cls(**values)
