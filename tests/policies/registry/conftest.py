"""Fixtures that run every registry test against SQLite (a file) and PostgreSQL.

PostgreSQL: set ``RETAILRL_TEST_PG_URL`` (``. .ci/postgres.sh`` starts a server and sets it). Each test gets
its own schema (``search_path``), dropped afterwards. Without the variable the PostgreSQL cases are skipped,
except when ``CI`` is set: then they fail, because CI must run them.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from registry_helpers import PASSWORDS
from sqlalchemy.engine import make_url

from policies.registry import Registry, UserRecord, make_engine, upgrade
from policies.registry.config import database_url
from policies.registry.security import make_hasher
from policies.registry.testing import temporary_schema

PG_ENV = "RETAILRL_TEST_PG_URL"


def _pg_base_url() -> str:
    base = os.environ.get(PG_ENV)
    if not base:
        if os.environ.get("CI"):
            pytest.fail(f"{PG_ENV} is not set, but CI is: CI must run the PostgreSQL registry tests "
                        f"(source .ci/postgres.sh before pytest)")
        pytest.skip(f"PostgreSQL registry tests need {PG_ENV} (run `. .ci/postgres.sh`)")
    return database_url(base)


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory) -> Path:
    """A SQLite file migrated once (by the real migrations) that tests copy instead of migrating again."""
    path = tmp_path_factory.mktemp("registry-template") / "registry.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # the last connection to close checkpoints the WAL into the file and removes it
    if Path(f"{path}-wal").exists():
        raise RuntimeError(f"{path}-wal still exists: the template would be copied incomplete")
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """A fresh, empty database URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.db'}"
        return
    with temporary_schema(_pg_base_url()) as url:
        yield url


@pytest.fixture
def registry(db_url, request):
    """A migrated registry (cheap argon2 parameters: the hashes are still argon2id)."""
    sqlite_file = make_url(db_url).database if db_url.startswith("sqlite") else None
    if sqlite_file and not Path(sqlite_file).exists():
        shutil.copyfile(request.getfixturevalue("migrated_sqlite_template"), sqlite_file)
    else:
        upgrade(db_url)
    reg = Registry(db_url, hasher=make_hasher(fast=True))
    yield reg
    reg.close()


@dataclass
class People:
    root: UserRecord
    alice: UserRecord  # requester
    bob: UserRecord  # approver
    carol: UserRecord  # approver
    victor: UserRecord  # viewer


@pytest.fixture
def people(registry) -> People:
    root = registry.create_user(None, "root", PASSWORDS["root"], "admin")
    for name, role in (("alice", "requester"), ("bob", "approver"), ("carol", "approver"), ("victor", "viewer")):
        registry.create_user(root, name, PASSWORDS[name], role)
    return People(*(registry.authenticate(n, PASSWORDS[n]) for n in ("root", "alice", "bob", "carol", "victor")))


@pytest.fixture
def banner(registry, people) -> str:
    """A decision point with the default rule (candidate's DR lower bound must beat the champion's estimate)."""
    registry.add_decision_point(people.root, "banner", "ad_slot", {"n_actions": 3}, 0,
                                guardrail_bound=0.0, guardrail_confidence=0.95, guardrail_min_count=20)
    return "banner"
