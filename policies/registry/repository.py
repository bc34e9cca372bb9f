"""The policy registry's facade: one object for the CLI, the service, the dashboard and the agents.

:class:`Registry` opens one :class:`~policies.registry.store.Store` (engine, sessions, transactions, the audit
writer) and the concern objects built on it; each concern's module docstring is its spec:

======================  =====================================================================================
``registry.accounts``   :mod:`~policies.registry.accounts`: users, roles, passwords, API tokens
``registry.catalog``    :mod:`~policies.registry.catalog`: decision points, versions, reports
``registry.approval``   :mod:`~policies.registry.approvals`: evidence, approval requests, approve, reject
``registry.rollout``    :mod:`~policies.registry.rollouts`: canary, traffic, promotion, rollback, kill, guardrail
``registry.logs``       :mod:`~policies.registry.event_logs`: decisions, rewards, activation, the joined log
``registry.analytics``  :mod:`~policies.registry.analytics`: the dashboard's reads of the logs
``registry.audit``      :mod:`~policies.registry.audit`: the audit log and the change counter
``registry.serving``    :mod:`~policies.registry.serving`: the decision API's snapshots (not forwarded)
======================  =====================================================================================

Every public method of a concern but ``serving`` is also a method of :class:`Registry` (``registry.approve(...)`` is
``registry.approval.approve(...)``), with the same signature and docstring. Every one is one transaction: a
compare-and-set transition and its audit row commit together or not at all.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from policies.registry.accounts import Accounts
from policies.registry.analytics import Analytics
from policies.registry.approvals import Approvals
from policies.registry.audit import AuditLog
from policies.registry.catalog import Catalog
from policies.registry.event_logs import EventLogs
from policies.registry.lookups import VersionRef
from policies.registry.rollouts import GUARDRAIL_ACTOR, Rollouts
from policies.registry.serving import Serving
from policies.registry.store import Store

__all__ = ["GUARDRAIL_ACTOR", "Registry", "VersionRef"]


def _forward(concern: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """A :class:`Registry` method that calls ``method`` on the registry's ``concern`` object."""
    name = method.__name__

    @functools.wraps(method)
    def call(self: Registry, *args: Any, **kwargs: Any) -> Any:
        return getattr(getattr(self, concern), name)(*args, **kwargs)

    return call


class Registry:
    """The policy registry on one database.

    :param url: SQLAlchemy URL (``None``: ``DATABASE_URL``, else ``registry.db`` in the data directory).
    :param engine: an existing engine (wins over ``url``).
    :param hasher: the argon2 password hasher (default: argon2-cffi's RFC 9106 low-memory profile).
    :param check: refuse a database that is not at the newest migration (``SchemaOutOfDate``).
    """

    def __init__(self, url: str | None = None, *, engine: Engine | None = None,
                 hasher: PasswordHasher | None = None, check: bool = True):
        self.store = Store(url, engine=engine, hasher=hasher, check=check)
        self.accounts = Accounts(self.store)
        self.catalog = Catalog(self.store)
        self.approval = Approvals(self.store)
        self.rollout = Rollouts(self.store)
        self.logs = EventLogs(self.store)
        self.analytics = Analytics(self.store)
        self.audit = AuditLog(self.store)
        self.serving = Serving(self.store)

    @property
    def engine(self) -> Engine:
        return self.store.engine

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self.store.sessions

    @property
    def hasher(self) -> PasswordHasher:
        return self.store.hasher

    def close(self) -> None:
        """Release the engine's connections."""
        self.store.close()

    # accounts
    create_user = _forward("accounts", Accounts.create_user)
    authenticate = _forward("accounts", Accounts.authenticate)
    authenticate_token = _forward("accounts", Accounts.authenticate_token)
    set_role = _forward("accounts", Accounts.set_role)
    set_active = _forward("accounts", Accounts.set_active)
    set_password = _forward("accounts", Accounts.set_password)
    list_users = _forward("accounts", Accounts.list_users)
    create_token = _forward("accounts", Accounts.create_token)
    revoke_token = _forward("accounts", Accounts.revoke_token)
    list_tokens = _forward("accounts", Accounts.list_tokens)

    # catalog
    add_decision_point = _forward("catalog", Catalog.add_decision_point)
    get_decision_point = _forward("catalog", Catalog.get_decision_point)
    list_decision_points = _forward("catalog", Catalog.list_decision_points)
    attach_baseline_report = _forward("catalog", Catalog.attach_baseline_report)
    register_version = _forward("catalog", Catalog.register_version)
    get_version = _forward("catalog", Catalog.get_version)
    list_versions = _forward("catalog", Catalog.list_versions)
    reports = _forward("catalog", Catalog.reports)

    # approvals
    attach_report = _forward("approval", Approvals.attach_report)
    request_approval = _forward("approval", Approvals.request_approval)
    approve = _forward("approval", Approvals.approve)
    reject = _forward("approval", Approvals.reject)
    approvals = _forward("approval", Approvals.approvals)
    open_approvals = _forward("approval", Approvals.open_approvals)

    # rollouts
    start_canary = _forward("rollout", Rollouts.start_canary)
    set_traffic = _forward("rollout", Rollouts.set_traffic)
    promote = _forward("rollout", Rollouts.promote)
    rollback = _forward("rollout", Rollouts.rollback)
    kill = _forward("rollout", Rollouts.kill)
    revive = _forward("rollout", Rollouts.revive)
    traffic = _forward("rollout", Rollouts.traffic)
    check_canary = _forward("rollout", Rollouts.check_canary)
    rollouts = _forward("rollout", Rollouts.rollouts)

    # event logs
    log_decision = _forward("logs", EventLogs.log_decision)
    log_reward = _forward("logs", EventLogs.log_reward)
    log_decisions = _forward("logs", EventLogs.log_decisions)
    log_rewards = _forward("logs", EventLogs.log_rewards)
    activate_decision = _forward("logs", EventLogs.activate_decision)
    assign_default_rewards = _forward("logs", EventLogs.assign_default_rewards)
    joined_events = _forward("logs", EventLogs.joined_events)

    # analytics and audit
    decision_buckets = _forward("analytics", Analytics.decision_buckets)
    recent_decisions = _forward("analytics", Analytics.recent_decisions)
    audit_log = _forward("audit", AuditLog.audit_log)
    last_change_id = _forward("audit", AuditLog.last_change_id)
