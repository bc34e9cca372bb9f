"""Seeding the registry for ``retailrl demo``: demo users, decision points, the candidates and their reports.

The demo's owner calls :func:`seed_demo` with the candidates it trained and evaluated; it is idempotent
(users and decision points that exist are kept; a candidate whose artefact SHA-256 is already registered
for its policy is not registered again).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policies.registry.artefacts import artefact_sha256
from policies.registry.db import upgrade
from policies.registry.errors import NotFound
from policies.registry.records import VersionRecord
from policies.registry.repository import Registry

DEMO_PASSWORD = "demo-password"  # demo only: printed by the demo so that a person can log in to the dashboard
DEMO_USERS = (("demo-admin", "admin"), ("demo-analyst", "requester"), ("demo-approver", "approver"),
              ("demo-viewer", "viewer"))


@dataclass(frozen=True)
class DemoCandidate:
    """A trained, evaluated policy the demo registers.

    :param decision_point: its decision point (created when missing, with ``kind``/``action_space``/``baseline_action``).
    :param policy: policy name (``ppo``, ``linucb`` ...).
    :param artefact: the artefact file or directory.
    :param report: its evaluation report (see :mod:`policies.registry.reports`).
    :param markdown: optional write-up.
    :param train_config: training config (JSON object).
    :param train_metrics: training metrics (JSON object).
    """

    decision_point: str
    kind: str
    action_space: Any
    baseline_action: Any
    policy: str
    artefact: Path
    report: dict
    markdown: str | None = None
    train_config: dict | None = None
    train_metrics: dict | None = None


def seed_demo(candidates: Sequence[DemoCandidate], url: str | None = None, *,
              password: str = DEMO_PASSWORD, request_approval: bool = True) -> list[VersionRecord]:
    """Migrate the database, create the demo users and register ``candidates`` (evaluated; approval requested).

    :param url: database URL (default: ``DATABASE_URL``, else ``registry.db`` in the data directory).
    :param password: the demo users' password.
    :param request_approval: have ``demo-analyst`` request each candidate's approval.
    :return: the registered versions (existing ones for candidates that were registered before).
    """
    upgrade(url)
    registry = Registry(url)
    try:
        existing = {u.username for u in registry.list_users()}
        if "demo-admin" not in existing:
            if existing:
                raise ValueError("the registry already has users but no demo-admin: seed the demo into its own "
                                 "database (RETAILRL_HOME or DATABASE_URL)")
            registry.create_user(None, "demo-admin", password, "admin")
        admin = registry.authenticate("demo-admin", password)
        for name, role in DEMO_USERS[1:]:
            if name not in existing:
                registry.create_user(admin, name, password, role)
        analyst = registry.authenticate("demo-analyst", password)
        out = []
        for c in candidates:
            try:
                registry.get_decision_point(c.decision_point)
            except NotFound:
                registry.add_decision_point(admin, c.decision_point, c.kind, c.action_space, c.baseline_action)
            digest = artefact_sha256(c.artefact)
            known = [v for v in registry.list_versions(c.decision_point)
                     if v.policy == c.policy and v.artefact_sha256 == digest]
            if known:
                out.append(known[-1])
                continue
            v = registry.register_version(analyst, c.decision_point, c.policy, Path(c.artefact).resolve().as_uri(),
                                          digest, train_config=c.train_config, train_metrics=c.train_metrics)
            registry.attach_report(analyst, v.ref, c.report, markdown=c.markdown)
            if request_approval:
                registry.request_approval(analyst, v.ref, "demo candidate")
            out.append(registry.get_version(v.ref))
        return out
    finally:
        registry.close()
