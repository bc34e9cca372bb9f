"""The registry's layout: one small module per concern, and a facade that forwards every concern's public calls."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import policies.registry
from policies.registry import Registry
from policies.registry.accounts import Accounts
from policies.registry.analytics import Analytics
from policies.registry.approvals import Approvals
from policies.registry.audit import AuditLog
from policies.registry.catalog import Catalog
from policies.registry.event_logs import EventLogs
from policies.registry.rollouts import Rollouts

PACKAGE = Path(policies.registry.__file__).parent
CONCERNS = {"accounts": Accounts, "catalog": Catalog, "approval": Approvals, "rollout": Rollouts, "logs": EventLogs,
            "analytics": Analytics, "audit": AuditLog}
MAX_MODULE_LINES = 500
MAX_CLASS_LINES = 300


def _public(cls) -> list[str]:
    return [n for n, f in vars(cls).items() if callable(f) and not n.startswith("_")]


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_modules_and_classes_stay_small(path):
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_MODULE_LINES, f"{path.name}: split it by concern"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ClassDef):
            assert node.end_lineno - node.lineno + 1 <= MAX_CLASS_LINES, f"{path.name}: class {node.name}"


def test_the_facade_forwards_every_public_call_of_every_concern_with_its_signature():
    forwarded = set()
    for cls in CONCERNS.values():
        for name in _public(cls):
            assert name not in forwarded, f"{name} is public in two concerns"
            forwarded.add(name)
            facade = getattr(Registry, name)
            assert inspect.signature(facade) == inspect.signature(getattr(cls, name)), name
            assert facade.__doc__ == getattr(cls, name).__doc__, name
    own = {n for n in _public(Registry) if n not in ("close", "engine", "sessions", "hasher")}
    assert own == forwarded


def test_concern_objects_share_the_facades_store(registry, people, banner):
    for attribute, cls in CONCERNS.items():
        concern = getattr(registry, attribute)
        assert isinstance(concern, cls) and concern.store is registry.store
    registry.rollout.kill(people.root, banner, "through the concern object")
    assert registry.traffic(banner).killed
    assert registry.audit.audit_log(entity_name=banner)[-1].action == "kill"
