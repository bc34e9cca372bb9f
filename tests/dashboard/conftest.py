"""Fixtures for the dashboard tests: temp SQLite registries (empty or populated through the Registry API) and
AppTest helpers (sign in, open a page)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from dashboard_helpers import populate  # noqa: E402

from policies.registry import Registry, make_engine, upgrade  # noqa: E402
from policies.registry.security import make_hasher  # noqa: E402

PASSWORDS = {"root": "root-pass-1", "alice": "alice-pass", "bob": "bob-pass-1", "carol": "carol-pass",
             "victor": "victor-pass"}
ROLES = {"alice": "requester", "bob": "approver", "carol": "approver", "victor": "viewer"}


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> Path:
    """A SQLite registry migrated once by the real migrations, copied by each test."""
    path = tmp_path_factory.mktemp("dashboard-template") / "registry.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


def _registry_with_users(template: Path, path: Path) -> tuple[str, Registry]:
    shutil.copyfile(template, path)
    url = f"sqlite:///{path}"
    registry = Registry(url, hasher=make_hasher(fast=True))
    root = registry.create_user(None, "root", PASSWORDS["root"], "admin")
    for name, role in ROLES.items():
        registry.create_user(root, name, PASSWORDS[name], role)
    return url, registry


@pytest.fixture
def empty_db(migrated_template, tmp_path, monkeypatch) -> str:
    """A registry with users only (no decision points); DATABASE_URL points at it. Returns its URL."""
    url, registry = _registry_with_users(migrated_template, tmp_path / "registry.db")
    registry.close()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("RETAILRL_DASHBOARD_IDLE_MINUTES", raising=False)
    return url


@pytest.fixture
def populated_db(migrated_template, tmp_path, monkeypatch) -> str:
    """A registry with a champion, a canary, candidates, reports, decisions and rewards (see ``populate``)."""
    url, registry = _registry_with_users(migrated_template, tmp_path / "registry.db")
    populate(registry, PASSWORDS)
    registry.close()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("RETAILRL_DASHBOARD_IDLE_MINUTES", raising=False)
    return url
