"""Audit: reading the append-only audit log, and the change counter.

Rows are written only by :meth:`Store.audit <policies.registry.store.Store.audit>`, inside the transaction of
the change they record (actor, action, entity, from/to state, reason, details). The database refuses to update
or delete them (triggers, migration 0001), so the log is append-only even for a writer with SQL access.

:meth:`AuditLog.last_change_id` is the newest row's id: it grows with every change to versions, rollouts, kill
switches and decision points, so a decision API server polls it to know when to reload what it serves.
"""

from __future__ import annotations

from sqlalchemy import func, select

from policies.registry import lookups as lk
from policies.registry.models import (
    AuditEntry,
)
from policies.registry.records import (
    AuditRecord,
)
from policies.registry.store import Store


class AuditLog:
    """The audit log's reads on one :class:`~policies.registry.store.Store`."""

    def __init__(self, store: Store):
        self.store = store

    def audit_log(self, *, entity_type: str | None = None, entity_name: str | None = None,
                  actor: str | None = None, limit: int | None = None) -> list[AuditRecord]:
        """Audit rows, oldest first (the newest ``limit`` when given).

        :param entity_name: an exact name (``pricing-ppo:3``) or a prefix ending in ``*`` (``pricing-ppo:*``).
        """
        with self.store.tx() as s:
            query = select(AuditEntry)
            if entity_type is not None:
                query = query.where(AuditEntry.entity_type == entity_type)
            if entity_name is not None:
                query = (query.where(AuditEntry.entity_name.startswith(entity_name[:-1], autoescape=True))
                         if entity_name.endswith("*") else query.where(AuditEntry.entity_name == entity_name))
            if actor is not None:
                query = query.where(AuditEntry.actor == actor)
            query = query.order_by(AuditEntry.id.desc())
            if limit is not None:
                query = query.limit(int(limit))
            return [lk.audit_record(a) for a in reversed(s.execute(query).scalars().all())]

    def last_change_id(self) -> int:
        """The newest audit row's id (0 when none): it grows with every change to versions, rollouts, kill
        switches and decision points, so a server polls it to know when to reload what it serves."""
        with self.store.tx() as s:
            return int(s.execute(select(func.max(AuditEntry.id))).scalar_one() or 0)
