"""Fixtures of the decision-API tests: a seeded registry (SQLite file, and PostgreSQL when
``RETAILRL_TEST_PG_URL`` is set; without it the PostgreSQL cases are skipped, except when ``CI`` is set: then they
fail) and a real ``retailrl serve`` subprocess on 127.0.0.1, spoken to over real HTTP.

A server start costs seconds, so one seeded registry and one server are shared by the tests of a module (per
backend); tests use their own event ids and leave the registry as they found it. Tests that must corrupt or
crash something get their own database (``own_db_url``) and server (``start_server``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from benchmarks.bench_api import SeededRegistry, ServerProcess, build_vw_artefact, seed_registry
from policies.registry.config import database_url
from policies.registry.testing import temporary_schema

PG_ENV = "RETAILRL_TEST_PG_URL"
FAST_ENV = {"RETAILRL_API_REFRESH_S": "0.2", "RETAILRL_API_SWEEP_S": "0.3", "RETAILRL_API_SWEEP_GRACE_S": "0",
            "RETAILRL_API_TOKEN_TTL_S": "0.5"}
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _pg_base_url() -> str:
    base = os.environ.get(PG_ENV)
    if not base:
        if os.environ.get("CI"):
            pytest.fail(f"{PG_ENV} is not set, but CI is: CI must run the PostgreSQL API tests "
                        f"(source .ci/postgres.sh before pytest)")
        pytest.skip(f"PostgreSQL API tests need {PG_ENV} (run `. .ci/postgres.sh`)")
    return database_url(base)


@contextlib.contextmanager
def fresh_database(backend: str, directory: Path) -> Iterator[str]:
    """A fresh, empty database URL (PostgreSQL: a schema of its own, dropped afterwards)."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / f'registry-{uuid.uuid4().hex[:8]}.db'}"
        return
    with temporary_schema(_pg_base_url()) as url:
        yield url


@pytest.fixture(scope="session")
def vw_artefact(tmp_path_factory) -> Path:
    """A 10-action VW policy trained once per session."""
    return build_vw_artefact(tmp_path_factory.mktemp("vw") / "vw-policy")


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def db_url(backend, tmp_path_factory) -> Iterator[str]:
    with fresh_database(backend, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture
def own_db_url(backend, tmp_path) -> Iterator[str]:
    """A database of the test's own, on the module's backend."""
    with fresh_database(backend, tmp_path) as url:
        yield url


@pytest.fixture
def fresh_db(backend, tmp_path) -> Iterator:
    """A factory of fresh databases on the module's backend (each dropped at teardown): ``fresh_db()``."""
    with contextlib.ExitStack() as stack:
        yield lambda: stack.enter_context(fresh_database(backend, tmp_path))


@pytest.fixture(scope="module")
def artefact(vw_artefact, tmp_path_factory) -> Path:
    """The module's copy of the session's VW artefact."""
    return Path(shutil.copytree(vw_artefact, tmp_path_factory.mktemp("artefact") / "vw"))


@pytest.fixture(scope="module")
def seeded(db_url, artefact) -> SeededRegistry:
    """Users root/ana/bob/svc/vic with tokens; decision point ``banner`` (10 actions, baseline 0, reward window
    1 h, default reward 0) whose live version is the VW policy."""
    return seed_registry(db_url, artefact)


def _start(url: str, directory: Path, name: str, **kwargs) -> ServerProcess:
    srv = ServerProcess(url, env={**FAST_ENV, **kwargs.pop("env", {})}, log_path=directory / f"{name}.log",
                        **kwargs)
    return srv.start()


@pytest.fixture(scope="module")
def server(seeded, tmp_path_factory) -> Iterator[ServerProcess]:
    srv = _start(seeded.url, tmp_path_factory.mktemp("server"), "server")
    yield srv
    srv.stop()


@pytest.fixture
def start_server(tmp_path):
    """Start ``retailrl serve`` on a database URL (stopped at teardown): ``start_server(url, workers=1)``."""
    started: list[ServerProcess] = []

    def start(url: str, **kwargs) -> ServerProcess:
        started.append(ServerProcess(url, env={**FAST_ENV, **kwargs.pop("env", {})},
                                     log_path=tmp_path / f"server-{len(started)}.log", **kwargs))
        return started[-1].start()

    yield start
    for srv in started:
        srv.stop()


@pytest.fixture
def client(server, seeded) -> Iterator[httpx.Client]:
    """An HTTP client of the module's server, authenticated as the service user (role requester)."""
    with httpx.Client(base_url=server.base_url, timeout=30.0,
                      headers={"Authorization": f"Bearer {seeded.tokens['service']}"}) as c:
        yield c
