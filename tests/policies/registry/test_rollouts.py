"""Rollouts on SQLite and PostgreSQL: the path to live, canary traffic, promotion, rollback and the kill switch
(policies.registry.rollouts)."""

from __future__ import annotations

import pytest
from registry_helpers import evaluated, live, ope_report

from policies.registry import (
    InvalidTransition,
)


def _audit_trail(registry, ref):
    return [(a.actor, a.action, a.from_state, a.to_state) for a in registry.audit_log(entity_name=ref)]


def test_full_workflow_candidate_to_live(registry, people, banner):
    v = registry.register_version(people.alice, banner, "ppo", "file:///a", "cd" * 32, train_config={"lr": 3e-4})
    assert (v.ref, v.state, v.created_by) == ("ppo:1", "candidate", "alice")
    assert registry.get_version("ppo@1") == registry.get_version(v.id) == v
    report = registry.attach_report(people.alice, v.ref, ope_report(0.10, 0.08), markdown="# ok", uris=["file:///p.png"])
    assert report.against_ref is None and report.markdown == "# ok" and report.uris == ["file:///p.png"]
    assert registry.get_version(v.ref).state == "evaluated"
    registry.request_approval(people.alice, v.ref, "ship it")
    assert registry.approve(people.bob, v.ref, "looks good").state == "approved"
    rollout = registry.start_canary(people.bob, v.ref, 10)
    assert (rollout.state, rollout.traffic_percent, rollout.champion_ref) == ("canary", 10.0, None)
    assert registry.traffic(banner).arms == (("baseline", None, 90.0), ("challenger", "ppo:1", 10.0))
    registry.set_traffic(people.bob, v.ref, 25)
    assert registry.traffic(banner).arms == (("baseline", None, 75.0), ("challenger", "ppo:1", 25.0))
    assert registry.promote(people.bob, v.ref).state == "live"
    assert registry.traffic(banner).arms == (("champion", "ppo:1", 100.0),)
    assert [r.state for r in registry.rollouts(banner)] == ["promoted"]
    assert [a.status for a in registry.approvals(v.ref)] == ["approved"]
    assert _audit_trail(registry, v.ref) == [
        ("alice", "register", None, "candidate"),
        ("alice", "evaluate", "candidate", "evaluated"),
        ("alice", "request_approval", "evaluated", "evaluated"),
        ("bob", "approve", "evaluated", "approved"),
        ("bob", "start_canary", "approved", "canary"),
        ("bob", "set_traffic", "canary", "canary"),
        ("bob", "promote", "canary", "live"),
    ]
    approve_row = registry.audit_log(entity_name=v.ref)[3]
    assert approve_row.details["request_id"] == registry.approvals(v.ref)[0].id
    assert approve_row.details["comment"] == "looks good"


def test_second_version_replaces_champion_which_retires(registry, people, banner):
    first = live(registry, people, banner, estimate=0.10, lower_bound=0.08)
    second = evaluated(registry, people, banner, estimate=0.20, lower_bound=0.15)
    registry.approve(people.carol, second)
    rollout = registry.start_canary(people.bob, second, 10)
    assert rollout.champion_ref == first
    assert registry.traffic(banner).arms == (("champion", first, 90.0), ("challenger", second, 10.0))
    registry.promote(people.bob, second)
    assert registry.get_version(first).state == "retired"
    assert registry.get_version(second).state == "live"


def test_reject_a_canary_returns_its_traffic(registry, people, banner):
    champion = live(registry, people, banner)
    ref = evaluated(registry, people, banner, estimate=0.2, lower_bound=0.15)
    registry.approve(people.bob, ref)
    registry.start_canary(people.bob, ref, 30)
    registry.reject(people.carol, ref, "bad canary")
    assert registry.traffic(banner).arms == (("champion", champion, 100.0),)
    assert registry.rollouts(banner)[-1].state == "rejected"


def test_rollback_of_a_canary_returns_traffic_to_the_champion(registry, people, banner):
    champion = live(registry, people, banner)
    ref = evaluated(registry, people, banner, estimate=0.2, lower_bound=0.15)
    registry.approve(people.bob, ref)
    registry.start_canary(people.bob, ref, 10)
    rolled = registry.rollback(people.bob, banner, "conversion dropped")
    assert (rolled.ref, rolled.state) == (ref, "rolled_back")
    assert registry.get_version(champion).state == "live"
    assert registry.traffic(banner).arms == (("champion", champion, 100.0),)
    assert registry.rollouts(banner)[-1].end_reason == "conversion dropped"


def test_rollback_of_live_restores_the_last_good_version_in_one_step(registry, people, banner):
    first = live(registry, people, banner, estimate=0.10, lower_bound=0.08)
    second = live(registry, people, banner, estimate=0.20, lower_bound=0.15)
    third = live(registry, people, banner, estimate=0.30, lower_bound=0.25)
    assert [registry.get_version(r).state for r in (first, second, third)] == ["retired", "retired", "live"]
    n_before = len(registry.audit_log())
    registry.rollback(people.bob, banner, "incident 42")
    assert [registry.get_version(r).state for r in (first, second, third)] == ["retired", "live", "rolled_back"]
    new_rows = registry.audit_log()[n_before:]
    assert [(a.action, a.entity_name, a.from_state, a.to_state) for a in new_rows] == [
        ("rollback", third, "live", "rolled_back"), ("restore", second, "retired", "live")]
    registry.rollback(people.bob, banner, "again")
    assert [registry.get_version(r).state for r in (first, second, third)] == ["live", "rolled_back", "rolled_back"]
    registry.rollback(people.bob, banner)
    assert registry.traffic(banner).arms == (("baseline", None, 100.0),)
    with pytest.raises(InvalidTransition, match="'no canary or live version' to 'rolled_back'"):
        registry.rollback(people.bob, banner)


def test_kill_switch_sends_everything_to_baseline_and_back(registry, people, banner):
    champion = live(registry, people, banner)
    ref = evaluated(registry, people, banner, estimate=0.2, lower_bound=0.15)
    registry.approve(people.bob, ref)
    registry.start_canary(people.bob, ref, 10)
    assert registry.kill(people.root, banner, "outage").killed
    split = registry.traffic(banner)
    assert split.killed and split.arms == (("baseline", None, 100.0),)
    with pytest.raises(InvalidTransition, match="from 'killed' to 'killed'"):
        registry.kill(people.bob, banner)
    registry.revive(people.bob, banner)
    assert registry.traffic(banner).arms == (("champion", champion, 90.0), ("challenger", ref, 10.0))
    kills = registry.audit_log(entity_type="decision_point", entity_name=banner)
    assert [(a.actor, a.action, a.from_state, a.to_state, a.reason) for a in kills[-2:]] == [
        ("root", "kill", "serving", "killed", "outage"), ("bob", "revive", "killed", "serving", None)]


def test_no_canary_while_killed(registry, people, banner):
    ref = evaluated(registry, people, banner)
    registry.approve(people.bob, ref)
    registry.kill(people.bob, banner)
    with pytest.raises(ValueError, match="killed"):
        registry.start_canary(people.bob, ref, 10)
    assert registry.get_version(ref).state == "approved"


def test_canary_traffic_must_be_strictly_between_0_and_100(registry, people, banner):
    ref = evaluated(registry, people, banner)
    registry.approve(people.bob, ref)
    for bad in (0, 100, -5, "ten"):
        with pytest.raises(ValueError, match="traffic_percent: expected a number in \\(0, 100\\)"):
            registry.start_canary(people.bob, ref, bad)


def test_one_canary_per_decision_point(registry, people, banner):
    a = evaluated(registry, people, banner, policy="a")
    b = evaluated(registry, people, banner, policy="b")
    registry.approve(people.bob, a)
    registry.approve(people.bob, b)
    registry.start_canary(people.bob, a, 10)
    with pytest.raises(ValueError, match="already runs a canary \\(a:1\\)"):
        registry.start_canary(people.bob, b, 10)
