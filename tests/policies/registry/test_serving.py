"""The decision API's view of the registry (policies.registry.serving) on SQLite and PostgreSQL: one snapshot of
every split and version, and a fingerprint that moves with every change of traffic, made by any process."""

from __future__ import annotations

import threading

import pytest
from registry_helpers import evaluated, live
from sqlalchemy import event

from policies.registry import Registry
from policies.registry.security import make_hasher


def test_the_snapshot_is_what_traffic_and_versions_say(registry, people, banner):
    champion = live(registry, people, banner)
    canary = evaluated(registry, people, banner, estimate=0.2, lower_bound=0.15)
    registry.approve(people.bob, canary)
    registry.start_canary(people.bob, canary, 25)
    snapshot = registry.serving.snapshot()
    (point,) = snapshot.points
    assert point.record == registry.get_decision_point(banner)
    assert point.split == registry.traffic(banner)
    assert point.split.arms == (("champion", champion, 75.0), ("challenger", canary, 25.0))
    assert point.versions == {champion: registry.get_version(champion), canary: registry.get_version(canary)}
    assert snapshot.fingerprint == registry.serving.fingerprint()
    assert snapshot.change_id == registry.last_change_id()


def test_the_fingerprint_moves_with_every_change_of_traffic_and_only_then(registry, people, banner):
    seen = [registry.serving.fingerprint()]

    def moved() -> bool:
        seen.append(registry.serving.fingerprint())
        return seen[-1] != seen[-2]

    champion = live(registry, people, banner)
    assert moved()  # promotion: a live version
    canary = evaluated(registry, people, banner, estimate=0.2, lower_bound=0.15)
    registry.approve(people.bob, canary)
    registry.create_user(people.root, "dora", "dora-pass-1", "viewer")
    assert not moved()  # registering, evaluating, approving and users do not move traffic
    registry.start_canary(people.bob, canary, 10)
    assert moved()
    registry.set_traffic(people.bob, canary, 20)
    assert moved()
    registry.kill(people.root, banner)
    assert moved()
    registry.revive(people.root, banner)
    assert moved() and seen[-1] == seen[-3]  # the same state as before the kill
    registry.rollback(people.bob, banner)  # the canary
    assert moved()
    registry.rollback(people.bob, banner)  # the champion: the baseline serves
    assert moved()
    registry.add_decision_point(people.root, "footer", "ad_slot", {"n_actions": 2}, 0)
    assert moved()
    assert registry.traffic(banner).arms == (("baseline", None, 100.0),) and registry.get_version(champion)


@pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_a_change_that_commits_after_a_later_numbered_one_is_still_seen(db_url, registry, people, banner):
    """PostgreSQL numbers audit rows at insert, not at commit: the newest audit id can stand still while a change
    becomes visible. The fingerprint compares states, so it sees it. (On SQLite, BEGIN IMMEDIATE makes changes
    commit in the order they are numbered.)"""
    registry.add_decision_point(people.root, "footer", "ad_slot", {"n_actions": 2}, 0)
    slow = Registry(db_url, hasher=make_hasher(fast=True))
    inside, release, failures = threading.Event(), threading.Event(), []

    def hold(session):
        inside.set()
        release.wait(30)

    event.listen(slow.sessions, "before_commit", hold)

    def kill_banner():
        try:
            slow.kill(people.root, banner)
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    thread = threading.Thread(target=kill_banner)
    thread.start()
    try:
        assert inside.wait(30)  # the banner's kill has its audit row (a lower id) but has not committed
        registry.kill(people.root, "footer")  # commits with a higher audit id
        change_id, fingerprint = registry.last_change_id(), registry.serving.fingerprint()
    finally:
        release.set()
        thread.join(30)
        slow.close()
    assert not failures
    assert registry.traffic(banner).killed
    assert registry.last_change_id() == change_id  # a poll of the newest id would have missed the banner's kill
    assert registry.serving.fingerprint() != fingerprint
