"""Where the registry's database lives: ``DATABASE_URL``, else a SQLite file in the project's data directory."""

from __future__ import annotations

import os

from sim_data.io import home_dir

ENV_URL = "DATABASE_URL"
SQLITE_FILE = "registry.db"


def database_url(url: str | None = None) -> str:
    """The SQLAlchemy URL of the registry database.

    :param url: an explicit URL; wins over the environment.
    :return: ``url``, else ``$DATABASE_URL``, else ``sqlite:///<home_dir()>/registry.db``. ``postgres://`` and
        ``postgresql://`` URLs are pointed at the psycopg 3 driver (``postgresql+psycopg://``).
    """
    chosen = url or os.environ.get(ENV_URL) or f"sqlite:///{(home_dir() / SQLITE_FILE).resolve()}"
    if not isinstance(chosen, str) or "://" not in chosen:
        raise ValueError(f"database url: expected a URL like sqlite:///path.db or postgresql://user@host/db, "
                         f"found {chosen!r}")
    for prefix in ("postgres://", "postgresql://"):
        if chosen.startswith(prefix):
            return "postgresql+psycopg://" + chosen[len(prefix):]
    return chosen


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***``, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
