"""Helpers for testing code that uses the registry against a real PostgreSQL server."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from policies.registry.config import database_url


@contextlib.contextmanager
def temporary_schema(base_url: str) -> Iterator[str]:
    """A URL whose connections live in a fresh PostgreSQL schema (``search_path``), dropped afterwards.

    Gives each test an empty database on one server without creating databases (no superuser needed).

    :param base_url: a PostgreSQL URL (``postgresql://`` URLs are pointed at psycopg 3).
    """
    base = database_url(base_url)
    if not base.startswith("postgresql"):
        raise ValueError(f"temporary_schema needs a PostgreSQL URL, found {make_url(base).drivername!r}")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(base)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        try:
            yield make_url(base).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
                hide_password=False)
        finally:
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        admin.dispose()
