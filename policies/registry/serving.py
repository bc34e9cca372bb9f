"""Serving: what the decision API serves, read as one consistent snapshot, and a cheap fingerprint of it.

Every instance of the decision API serves, per decision point, its traffic split (the rules of
:mod:`policies.registry.rollouts`: baseline when killed, else champion and canary) and the versions on it.

- :meth:`Serving.snapshot` reads every decision point, its split and its versions in **one** read-only
  transaction on **one** snapshot (PostgreSQL ``REPEATABLE READ``; SQLite: one transaction), together with its
  fingerprint. An instance swaps its whole serving table for a snapshot, so it serves either the state before a
  change or the state after it, never a mixture (for example a killed decision point next to another's
  pre-promotion split).
- :meth:`Serving.fingerprint` is one ``SELECT`` of everything a split depends on: per decision point its id, its
  kill switch, its live version and its running canary (id and traffic share). Every change that moves traffic
  (kill, revive, canary start, traffic change, promotion, rollback, rejection of a canary, the guardrail, a new
  decision point) changes it, whichever process or dashboard made it. An instance polls it every ``refresh_s``
  and reads a new snapshot when it moved. It compares states rather than counters: the newest audit-row id could
  miss a change, because PostgreSQL numbers rows when they are inserted, not when they commit, so a change can
  become visible after a higher-numbered one was already seen.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from policies.registry import lookups as lk
from policies.registry import workflow as wf
from policies.registry.models import AuditEntry, DecisionPoint, PolicyVersion, Rollout
from policies.registry.records import DecisionPointRecord, TrafficSplit, VersionRecord
from policies.registry.store import Store

Fingerprint = tuple[tuple, ...]


@dataclass(frozen=True)
class ServingPoint:
    """One decision point as it is served: its record, its split and the records of the versions on it."""

    record: DecisionPointRecord
    split: TrafficSplit
    versions: dict[str, VersionRecord]


@dataclass(frozen=True)
class ServingSnapshot:
    """Every decision point as served, read on one database snapshot.

    :param fingerprint: :meth:`Serving.fingerprint` on the same snapshot.
    :param change_id: the newest audit row's id on that snapshot (for humans and health checks).
    :param points: by decision point name.
    """

    fingerprint: Fingerprint
    change_id: int
    points: tuple[ServingPoint, ...]


class Serving:
    """Snapshots of the serving state on one :class:`~policies.registry.store.Store`."""

    def __init__(self, store: Store):
        self.store = store
        live = PolicyVersion.__table__
        canary = Rollout.__table__
        points = DecisionPoint.__table__
        self._fingerprint_query = (
            select(points.c.id, points.c.killed, live.c.id, canary.c.id, canary.c.traffic_percent)
            .select_from(points.outerjoin(live, and_(live.c.decision_point_id == points.c.id,
                                                     live.c.state == wf.LIVE))
                         .outerjoin(canary, and_(canary.c.decision_point_id == points.c.id,
                                                 canary.c.state == "canary")))
            .order_by(points.c.id))
        self._fingerprint_sql = str(self._fingerprint_query.compile(dialect=store.engine.dialect,
                                                                    compile_kwargs={"literal_binds": True}))

    def fingerprint(self) -> Fingerprint:
        """What every split depends on now, in one statement (on SQLite outside any transaction, so that a poll
        never takes the write lock that the registry's transactions begin with)."""
        conn = self.store.engine.raw_connection()
        try:
            cur = conn.cursor()
            cur.execute(self._fingerprint_sql)
            rows = tuple(_normal(row) for row in cur.fetchall())
            cur.close()
            if self.store.dialect != "sqlite":
                conn.rollback()
            return rows
        finally:
            conn.close()

    def snapshot(self) -> ServingSnapshot:
        """Every decision point with its split and versions, and the fingerprint, on one database snapshot."""
        if self.store.dialect == "sqlite":
            with self.store.tx() as s:
                return self._read(s)
        with self.store.engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, \
                Session(bind=conn) as s:
            try:
                return self._read(s)
            finally:
                conn.rollback()

    def _read(self, s: Session) -> ServingSnapshot:
        fingerprint = tuple(_normal(row) for row in s.execute(self._fingerprint_query).all())
        change_id = int(s.execute(select(func.max(AuditEntry.id))).scalar_one() or 0)
        points = []
        for point in s.execute(select(DecisionPoint).order_by(DecisionPoint.name)).scalars():
            split = lk.traffic_split(s, point)
            versions = {ref: lk.version_record(s, lk.version(s, ref)) for _, ref, _ in split.arms if ref is not None}
            points.append(ServingPoint(lk.dp_record(point), split, versions))
        return ServingSnapshot(fingerprint, change_id, tuple(points))


def _normal(row) -> tuple:
    """A fingerprint row with the same Python types on every driver (SQLite returns 0/1 for booleans)."""
    dp_id, killed, live_id, canary_id, percent = row
    return (int(dp_id), bool(killed), live_id, canary_id, None if percent is None else float(percent))
