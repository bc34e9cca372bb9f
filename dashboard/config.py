"""The dashboard's settings, read from the environment once per script run.

``DATABASE_URL`` (else ``registry.db`` in the data directory) picks the registry, exactly as for the registry CLI;
``RETAILRL_DASHBOARD_IDLE_MINUTES`` (default 30) is how long a signed-in session may stay idle.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from policies.registry.config import database_url

ENV_IDLE_MINUTES = "RETAILRL_DASHBOARD_IDLE_MINUTES"
DEFAULT_IDLE_MINUTES = 30.0


@dataclass(frozen=True)
class DashboardConfig:
    """:param database_url: the registry's SQLAlchemy URL.
    :param idle_minutes: a session that saw no interaction for this long is signed out.
    """

    database_url: str
    idle_minutes: float = DEFAULT_IDLE_MINUTES

    @property
    def idle_seconds(self) -> float:
        return self.idle_minutes * 60.0


def load_config(environ: Mapping[str, str] | None = None) -> DashboardConfig:
    """The settings from ``environ`` (default ``os.environ``); a bad idle timeout raises ``ValueError``."""
    environ = os.environ if environ is None else environ
    raw = environ.get(ENV_IDLE_MINUTES, "").strip()
    idle = DEFAULT_IDLE_MINUTES
    if raw:
        try:
            idle = float(raw)
        except ValueError:
            raise ValueError(f"{ENV_IDLE_MINUTES}: expected a number of minutes > 0, found {raw!r}") from None
        if not math.isfinite(idle) or idle <= 0:
            raise ValueError(f"{ENV_IDLE_MINUTES}: expected a number of minutes > 0, found {raw!r}")
    return DashboardConfig(database_url=database_url(environ.get("DATABASE_URL") or None), idle_minutes=idle)
