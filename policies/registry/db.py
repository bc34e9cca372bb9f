"""Engines, sessions and migrations: SQLite (WAL, foreign keys, ``BEGIN IMMEDIATE``) or PostgreSQL.

The registry refuses to run on a database that is not at the newest Alembic revision: :func:`check_schema`
raises :class:`~policies.registry.errors.SchemaOutOfDate` telling the user to run ``retailrl registry upgrade``.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from policies.registry.config import database_url, redact
from policies.registry.errors import SchemaOutOfDate

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's implicit transactions are deferred,
    # which turns two concurrent writers into "database is locked" instead of waiting their turn).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _sqlite_begin_immediate(conn) -> None:
    # Take the write lock at the start of every transaction: a transition's read of the current state and its
    # compare-and-set update then see the same, newest data, and a second writer waits (busy_timeout).
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str | None = None, *, echo: bool = False) -> Engine:
    """A SQLAlchemy engine for the registry database.

    :param url: SQLAlchemy URL; ``None`` means :func:`policies.registry.config.database_url` (``DATABASE_URL``,
        else ``registry.db`` in ``sim_data.io.home_dir()``).
    :param echo: log every SQL statement.
    """
    url = database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(url, echo=echo, pool_pre_ping=True)
    raise ValueError(f"database url {redact(url)!r}: expected a sqlite:// or postgresql:// URL")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """The session factory the repository uses (objects stay readable after commit)."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


def alembic_config(engine: Engine):
    """An Alembic ``Config`` for the registry's migrations (shipped inside the package), bound to ``engine``."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    """The newest migration revision this code knows."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS_DIR))
    head = script.get_current_head()
    if head is None:  # pragma: no cover - the package ships its migrations
        raise RuntimeError(f"no Alembic migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or ``None`` when it was never migrated."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine_or_url: Engine | str | None = None, revision: str = "head") -> str:
    """Migrate the database to ``revision`` (default: the newest); returns the revision it is at afterwards.

    :param engine_or_url: an engine, a URL, or ``None`` for the default database.
    :param revision: Alembic revision id, or ``head``.
    """
    from alembic import command

    engine = engine_or_url if isinstance(engine_or_url, Engine) else make_engine(engine_or_url)
    command.upgrade(alembic_config(engine), revision)
    return current_revision(engine) or "base"


def downgrade(engine_or_url: Engine | str | None, revision: str) -> str:
    """Migrate the database back to ``revision`` (``base`` drops every registry table, the audit log included)."""
    from alembic import command

    engine = engine_or_url if isinstance(engine_or_url, Engine) else make_engine(engine_or_url)
    command.downgrade(alembic_config(engine), revision)
    return current_revision(engine) or "base"


def check_schema(engine: Engine) -> None:
    """Raise :class:`SchemaOutOfDate` unless the database is at :func:`head_revision`."""
    head = head_revision()
    current = current_revision(engine)
    if current != head:
        found = "has no registry tables" if current is None else f"is at revision {current!r}"
        raise SchemaOutOfDate(f"the registry database {redact(str(engine.url))} {found}, but this code needs "
                              f"revision {head!r}: run `retailrl registry upgrade` (with the same "
                              f"--db / DATABASE_URL) first")
