"""Reliability on SQLite and PostgreSQL: concurrent approvals, crashes mid-transition, the append-only
audit log enforced by the database, and refusing an un-migrated database."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time

import pytest
from registry_helpers import PASSWORDS, evaluated, live
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from policies.registry import (
    ConcurrentTransition,
    InvalidTransition,
    Registry,
    SchemaOutOfDate,
    lookups,
    make_engine,
    upgrade,
)
from policies.registry.db import downgrade, head_revision
from policies.registry.security import make_hasher
from policies.registry.store import Store


def _approve_race(db_url, ref, approvers) -> list:
    """Two approvers, each with its own engine, approve ``ref`` at the same moment; returns their outcomes."""
    barrier = threading.Barrier(len(approvers))
    outcomes: list = [None] * len(approvers)
    registries = [Registry(db_url, hasher=make_hasher(fast=True)) for _ in approvers]

    def widen_the_window(session):
        time.sleep(0.05)  # hold the transaction open a little so that the other one surely overlaps

    for reg in registries:
        event.listen(reg.sessions, "before_commit", widen_the_window)

    def run(i):
        barrier.wait()
        try:
            outcomes[i] = registries[i].approve(approvers[i], ref)
        except Exception as exc:  # noqa: BLE001 - the loser's error is the result under test
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(approvers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for reg in registries:
        reg.close()
    return outcomes


def test_two_approvers_at_once_exactly_one_wins(db_url, registry, people, banner):
    for round_ in range(3):
        ref = evaluated(registry, people, banner, policy=f"race{round_}")
        outcomes = _approve_race(db_url, ref, [people.bob, people.carol])
        winners = [o for o in outcomes if not isinstance(o, Exception)]
        losers = [o for o in outcomes if isinstance(o, Exception)]
        assert len(winners) == 1 and len(losers) == 1, outcomes
        assert winners[0].state == "approved"
        assert isinstance(losers[0], InvalidTransition)
        assert "'approved' to 'approved'" in str(losers[0]) or "no longer 'evaluated'" in str(losers[0])
        approvals = [a for a in registry.audit_log(entity_name=ref) if a.action == "approve"]
        assert len(approvals) == 1
        (request,) = registry.approvals(ref)
        assert request.status == "approved" and request.decided_by == approvals[0].actor


def test_compare_and_set_refuses_a_stale_state(registry, people, banner):
    """The CAS UPDATE ... WHERE state = 'evaluated' alone (no lock) refuses a change made in between."""
    ref = evaluated(registry, people, banner)
    with registry.store.tx() as s:
        stale = lookups.version(s, ref)  # read while 'evaluated'
    registry.approve(people.bob, ref)  # another user moves it on
    with pytest.raises(ConcurrentTransition, match="no longer 'evaluated'.*another user changed it first"):
        with registry.store.tx() as s:
            s.add(stale)
            registry.store.move(s, stale, "approve", "carol")
    assert registry.get_version(ref).state == "approved"
    assert [a.actor for a in registry.audit_log(entity_name=ref) if a.action == "approve"] == ["bob"]


def test_exception_after_the_state_update_leaves_nothing_half_done(registry, people, banner, monkeypatch):
    ref = evaluated(registry, people, banner)
    n_audit = len(registry.audit_log())
    original = Store.audit

    def failing_audit(self, s, actor, action, *args, **kwargs):
        if action == "approve":  # the version's UPDATE and the request's UPDATE have already run
            raise RuntimeError("crash between the state update and the audit row")
        return original(self, s, actor, action, *args, **kwargs)

    monkeypatch.setattr(Store, "audit", failing_audit)
    with pytest.raises(RuntimeError, match="crash between"):
        registry.approve(people.bob, ref)
    monkeypatch.undo()
    assert registry.get_version(ref).state == "evaluated"
    assert registry.approvals(ref)[0].status == "open"
    assert len(registry.audit_log()) == n_audit
    assert registry.approve(people.bob, ref).state == "approved"  # and nothing is stuck


def test_exception_just_before_commit_of_a_multi_row_promotion_changes_nothing(registry, people, banner):
    champion = live(registry, people, banner)
    ref = evaluated(registry, people, banner, estimate=0.2, lower_bound=0.15)
    registry.approve(people.bob, ref)
    registry.start_canary(people.bob, ref, 10)
    n_audit = len(registry.audit_log())

    def boom(session):
        raise RuntimeError("power cut before COMMIT")

    event.listen(registry.sessions, "before_commit", boom)
    with pytest.raises(RuntimeError, match="power cut"):
        registry.promote(people.bob, ref)
    event.remove(registry.sessions, "before_commit", boom)
    assert registry.get_version(champion).state == "live"
    assert registry.get_version(ref).state == "canary"
    assert registry.rollouts(banner)[-1].state == "canary"
    assert len(registry.audit_log()) == n_audit
    registry.promote(people.bob, ref)
    assert (registry.get_version(champion).state, registry.get_version(ref).state) == ("retired", "live")


def _approve_then_die(db_url: str, ref: str, password: str) -> None:
    reg = Registry(db_url, hasher=make_hasher(fast=True))
    event.listen(reg.sessions, "before_commit", lambda session: os._exit(17))
    reg.approve(reg.authenticate("bob", password), ref)


def test_process_killed_mid_transition_leaves_no_half_state(db_url, registry, people, banner):
    ref = evaluated(registry, people, banner)
    n_audit = len(registry.audit_log())
    registry.engine.dispose()  # no pooled connections across fork
    proc = multiprocessing.get_context("fork").Process(target=_approve_then_die, args=(db_url, ref, PASSWORDS["bob"]))
    proc.start()
    proc.join(timeout=60)
    assert proc.exitcode == 17
    assert registry.get_version(ref).state == "evaluated"
    assert registry.approvals(ref)[0].status == "open"
    assert len(registry.audit_log()) == n_audit
    assert registry.approve(people.carol, ref).state == "approved"


def test_audit_rows_cannot_be_edited_or_deleted_through_the_database(registry, people, banner):
    engine = registry.engine
    with engine.begin() as conn:  # a forger with write access inserts a row ...
        conn.execute(text("INSERT INTO audit_log (at, actor, action, entity_type, entity_name, reason) "
                          "VALUES (:at, 'mallory', 'approve', 'policy_version', 'ppo:9', 'forged')"),
                     {"at": "2024-01-01 00:00:00"})
    forged_id = max(a.id for a in registry.audit_log())
    before = [(a.id, a.actor, a.action, a.reason) for a in registry.audit_log()]
    for statement in ("UPDATE audit_log SET actor = 'nobody', reason = 'edited' WHERE id = :id",
                      "UPDATE audit_log SET reason = 'everything edited'",
                      "DELETE FROM audit_log WHERE id = :id",
                      "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="audit_log is append-only"):
            with engine.begin() as conn:
                conn.execute(text(statement), {"id": forged_id})
    if engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="audit_log is append-only: TRUNCATE refused"):
            with engine.begin() as conn:
                conn.execute(text("TRUNCATE audit_log"))
    assert [(a.id, a.actor, a.action, a.reason) for a in registry.audit_log()] == before


def test_unmigrated_database_is_refused_with_the_upgrade_command(db_url):
    engine = make_engine(db_url)
    with pytest.raises(SchemaOutOfDate, match="has no registry tables.*run `retailrl registry upgrade`"):
        Registry(engine=engine)
    upgrade(engine, "base")  # a no-op on an empty database
    head = head_revision()
    assert upgrade(engine) == head
    assert upgrade(engine) == head  # idempotent
    Registry(engine=engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'an_old_one'"))
    with pytest.raises(SchemaOutOfDate, match=f"is at revision 'an_old_one'.*needs revision '{head}'"):
        Registry(engine=engine)
    engine.dispose()


def test_downgrade_removes_everything_and_upgrade_restores_it(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    assert downgrade(engine, "base") == "base"
    with pytest.raises(SchemaOutOfDate):
        Registry(engine=engine)
    upgrade(engine)
    Registry(engine=engine).create_user(None, "root", "root-pass-1", "admin")
    engine.dispose()
