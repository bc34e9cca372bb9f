"""The API's hot-path log writer (service.log_store) against the registry's own log methods, on SQLite and
PostgreSQL: the same batches give the same outcomes and the same stored rows; a failed transaction stores nothing;
on SQLite a held write lock makes ``write_now`` give way (nothing written) and ``write`` wait for it."""

from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url

from benchmarks.bench_api import seed_registry
from policies.registry import Registry
from policies.registry.log_records import DecisionRow, RewardRow
from policies.registry.models import DecisionLog, RewardLog, utcnow
from service.log_store import Busy, DecisionEntry, LogStore

T0 = utcnow().replace(microsecond=0) - timedelta(minutes=5)


def _at(seconds: float):
    return T0 + timedelta(seconds=seconds)


# (event_id, arm, action, propensity, at, deferred); arm "baseline" has no version
DECISIONS = [
    [("e1", "champion", 3, 0.5, _at(0), False), ("e2", "champion", [1, 4], 0.25, _at(1), False),
     ("e2", "champion", 2, 0.5, _at(1), False), ("e3", "champion", 5, 0.9, _at(2), True),
     ("e4", "baseline", 0, 1.0, _at(-7200), False)],
    [("e1", "champion", 7, 0.1, _at(3), False), ("e5", "champion", 1, 0.2, _at(-7200), False)],
]
# (event_id, value, slot, at)
REWARDS = [
    [("e1", 1.0, None, _at(10)), ("e1", 1.0, None, _at(10)), ("e2", 0.0, 0, _at(11)), ("nope", 1.0, None, _at(11)),
     ("e3", 2.0, None, _at(12)), ("e4", 1.0, None, _at(12))],
    [("e1", 1.0, None, _at(20)), ("e1", 0.5, None, _at(20)), ("e2", 0.0, 1, _at(20))],
]


def _setup(url: str, artefact) -> tuple[Registry, int, int]:
    seeded = seed_registry(url, artefact)
    reg = Registry(url)
    return reg, reg.get_decision_point(seeded.decision_point).id, reg.get_version(seeded.live_ref).id


def _rows(url: str) -> tuple[list, list]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            d = [tuple(r) for r in conn.execute(
                select(DecisionLog.event_id, DecisionLog.decision_point_id, DecisionLog.version_id, DecisionLog.arm,
                       DecisionLog.action, DecisionLog.propensity, DecisionLog.context, DecisionLog.created_at,
                       DecisionLog.deferred, DecisionLog.activated_at).order_by(DecisionLog.event_id))]
            r = [tuple(r) for r in conn.execute(
                select(RewardLog.event_id, RewardLog.reward, RewardLog.slot, RewardLog.is_default,
                       RewardLog.created_at).order_by(RewardLog.event_id))]
            return d, r
    finally:
        engine.dispose()


@pytest.fixture
def two_dbs(fresh_db, artefact):
    """Two identically seeded databases: one written by the registry, one by the log store."""
    a, b = fresh_db(), fresh_db()
    reg_a, dp, version = _setup(a, artefact)
    reg_b, dp_b, version_b = _setup(b, artefact)
    assert (dp, version) == (dp_b, version_b)
    store = LogStore(reg_b.engine, timeout_s=5.0)
    try:
        yield reg_a, reg_b, store, dp, version, a, b
    finally:
        store.close()
        reg_a.close()
        reg_b.close()


def test_the_store_answers_and_stores_what_the_registry_does(two_dbs):
    reg_a, reg_b, store, dp, version, url_a, url_b = two_dbs
    ref = reg_a.list_versions("banner")[0].ref

    def context(e, action):
        return {"features": [0.5, "red"], "pmf": [[0.25, 0.75]], "chosen": action, "event": e}

    for batch in DECISIONS:
        rows = [DecisionRow("banner", e, arm, action, version=None if arm == "baseline" else ref, propensity=p,
                            context=context(e, action), at=at, deferred=deferred)
                for e, arm, action, p, at, deferred in batch]
        entries = [DecisionEntry(e, dp, None if arm == "baseline" else version, arm, action, p, context(e, action),
                                 at, deferred) for e, arm, action, p, at, deferred in batch]
        assert store.write(entries, []) == (reg_a.log_decisions(rows), [])
    assert reg_a.log_decisions([DecisionRow("banner", "e1", "champion", 1, version=ref)]) == [False]

    for reg in (reg_a, reg_b):  # the default reward of e5 (window ended), as the server's sweeper logs it
        assert reg.assign_default_rewards(now=utcnow()) == 2  # e4 and e5
    outcomes = []
    for batch in [*REWARDS, [("e5", 1.0, None, _at(30))]]:
        rows = [RewardRow(e, v, slot, at) for e, v, slot, at in batch]
        expected, got = reg_a.log_rewards(rows), store.write([], rows)[1]
        assert got == expected
        outcomes.append(got)
    assert outcomes == [["stored", "duplicate", "stored", "unknown_event", "not_activated", "window_closed"],
                        ["duplicate", "conflict", "conflict"], ["window_closed"]]

    for reg in (reg_a, reg_b):
        assert reg.activate_decision("e3", at=_at(40)) == "activated"
    rows = [RewardRow("e3", 2.0, None, _at(41))]
    assert store.write([], rows)[1] == reg_a.log_rewards(rows) == ["stored"]

    # decisions and rewards in one transaction: the reward sees the decision stored before it
    entry = DecisionEntry("e6", dp, version, "champion", 2, 0.5, context("e6", 2), _at(50))
    stored = store.write([entry], [RewardRow("e6", 1.0, None, _at(51))])
    assert stored == ([True], ["stored"])
    assert reg_a.log_decisions([DecisionRow("banner", "e6", "champion", 2, version=ref, propensity=0.5,
                                            context=context("e6", 2), at=_at(50))]) == [True]
    assert reg_a.log_rewards([RewardRow("e6", 1.0, None, _at(51))]) == ["stored"]

    decisions_a, rewards_a = _rows(url_a)
    decisions_b, rewards_b = _rows(url_b)
    assert decisions_b == decisions_a and len(decisions_a) == 6
    assert rewards_b == rewards_a and len(rewards_a) == 6
    (joined,) = [j for j in reg_b.joined_events("banner") if j.event_id == "e6"]  # the learner reads it back
    assert (joined.context, joined.reward, joined.decided_at) == (context("e6", 2), 1.0, _at(50))


def test_repeated_rewards_whose_times_go_back_are_judged_in_order(two_dbs):
    """The pipelined PostgreSQL write sends one reward per event; a batch where a later repeat is earlier (so it
    may be inside the window when the first is not) is judged row by row, as the registry does."""
    reg_a, reg_b, store, dp, version, url_a, url_b = two_dbs
    ref = reg_a.list_versions("banner")[0].ref
    entry = DecisionEntry("e7", dp, version, "champion", 1, 0.5, None, _at(0))
    assert store.write([entry], []) == ([True], [])
    assert reg_a.log_decisions([DecisionRow("banner", "e7", "champion", 1, version=ref, propensity=0.5,
                                            at=_at(0))]) == [True]
    rows = [RewardRow("e7", 1.0, None, _at(4000)), RewardRow("e7", 1.0, None, _at(100)),
            RewardRow("e7", 0.0, None, _at(200))]
    assert store.write([], rows)[1] == reg_a.log_rewards(rows) == ["window_closed", "stored", "conflict"]
    assert _rows(url_b)[1] == _rows(url_a)[1] and len(_rows(url_a)[1]) == 1


def test_a_failed_transaction_stores_nothing(two_dbs):
    _, reg, store, dp, version, _, url = two_dbs
    good = DecisionEntry("ok-1", dp, version, "champion", 1, 0.5, {"features": [1.0]}, _at(0))
    orphan = DecisionEntry("orphan-1", dp + 999, None, "baseline", 0, 1.0, None, _at(0))  # no such decision point
    with pytest.raises(Exception, match="(?i)foreign key"):
        store.write([good, orphan], [])
    assert _rows(url) == ([], [])
    assert store.write([good], []) == ([True], [])  # the connection is usable afterwards
    with pytest.raises(ValueError, match=r"rows\[0\]\.version_id: the baseline arm has no version"):
        store.write([DecisionEntry("bad-1", dp, version, "baseline", 0, 1.0, None, _at(0))], [])
    with pytest.raises(ValueError, match=r"rows\[0\]\.propensity"):
        store.write([DecisionEntry("bad-2", dp, version, "champion", 0, 1.5, None, _at(0))], [])
    assert [d[0] for d in _rows(url)[0]] == ["ok-1"]


def test_sqlite_write_now_gives_way_to_a_held_lock_and_write_waits_for_it(tmp_path, artefact):
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    reg, dp, version = _setup(url, artefact)
    store = LogStore(reg.engine, timeout_s=30.0)
    entry = DecisionEntry("locked-1", dp, version, "champion", 1, 0.5, None, _at(0))
    holder = sqlite3.connect(make_url(url).database, isolation_level=None, check_same_thread=False)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(Busy):
            store.write_now([entry], [])
        release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
        release.start()
        assert store.write([entry], []) == ([True], [])  # waited for the lock (busy_timeout), then wrote
        release.join()
        assert store.write_now([DecisionEntry("free-1", dp, version, "champion", 1, 0.5, None, _at(0))], []) \
            == ([True], [])
        store.checkpoint()  # the WAL is copied into the database file by a connection of its own
        frames = holder.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert frames[0] == 0 and frames[1] == frames[2]  # nothing left to copy
    finally:
        holder.close()
        store.close()
        reg.close()
    assert sorted(d[0] for d in _rows(url)[0]) == ["free-1", "locked-1"]
