"""The workflow on SQLite and PostgreSQL: candidate -> evaluated -> approved -> canary -> live, rejection,
rollback, kill switch, four eyes, the evidence rules and the messages of invalid transitions."""

from __future__ import annotations

import pytest
from registry_helpers import evaluated, live, ope_report

from policies.registry import (
    ApprovalRuleFailed,
    FourEyesViolation,
    InvalidTransition,
    MissingEvaluation,
    PermissionDenied,
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


def test_reject_from_evaluated_closes_the_request(registry, people, banner):
    ref = evaluated(registry, people, banner)
    assert registry.reject(people.bob, ref, "not convinced").state == "rejected"
    (request,) = registry.approvals(ref)
    assert (request.status, request.decided_by, request.decision_comment) == ("rejected", "bob", "not convinced")
    with pytest.raises(InvalidTransition, match="from 'rejected' to 'approved'"):
        registry.approve(people.carol, ref)


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


def test_four_eyes_the_requester_cannot_approve(registry, people, banner):
    v = registry.register_version(people.alice, banner, "ppo", "file:///a", "cd" * 32)
    registry.attach_report(people.alice, v.ref, ope_report(0.1, 0.08))
    registry.request_approval(people.bob, v.ref)  # bob (an approver) asks ...
    with pytest.raises(FourEyesViolation, match="'bob' requested this approval"):
        registry.approve(people.bob, v.ref)  # ... and cannot approve his own request
    assert registry.approve(people.carol, v.ref).state == "approved"


def test_four_eyes_the_creator_cannot_approve(registry, people, banner):
    v = registry.register_version(people.bob, banner, "ppo", "file:///a", "cd" * 32)
    registry.attach_report(people.alice, v.ref, ope_report(0.1, 0.08))
    registry.request_approval(people.alice, v.ref)
    with pytest.raises(FourEyesViolation, match="'bob' registered this version"):
        registry.approve(people.bob, v.ref)
    assert registry.get_version(v.ref).state == "evaluated"


@pytest.mark.parametrize("who", ["alice", "root", "victor"])
def test_only_approvers_approve(registry, people, banner, who):
    ref = evaluated(registry, people, banner)
    with pytest.raises(PermissionDenied, match=f"'{who}' has role .* 'approve' needs one of \\['approver'\\]"):
        registry.approve(getattr(people, who), ref)
    assert registry.get_version(ref).state == "evaluated"


def test_viewer_cannot_register_and_requester_cannot_move_traffic(registry, people, banner):
    with pytest.raises(PermissionDenied, match="'victor' has role 'viewer'"):
        registry.register_version(people.victor, banner, "ppo", "file:///a", "cd" * 32)
    with pytest.raises(PermissionDenied, match="'alice' has role 'requester'"):
        registry.kill(people.alice, banner)


def test_no_approval_without_an_evaluation(registry, people, banner):
    v = registry.register_version(people.alice, banner, "ppo", "file:///a", "cd" * 32)
    with pytest.raises(InvalidTransition, match="from 'candidate' to 'approved'.*request_approval"):
        registry.request_approval(people.alice, v.ref)
    with pytest.raises(InvalidTransition, match="from 'candidate' to 'approved'"):
        registry.approve(people.bob, v.ref)


def test_no_approval_without_an_evaluation_against_the_current_champion(registry, people, banner):
    ref = evaluated(registry, people, banner, policy="bandit", estimate=0.3, lower_bound=0.25)  # no champion yet
    champion = live(registry, people, banner, estimate=0.10, lower_bound=0.08)  # now there is one
    with pytest.raises(MissingEvaluation, match=f"against the current champion \\({champion}\\)"):
        registry.approve(people.bob, ref)
    report = registry.attach_report(people.alice, ref, ope_report(0.3, 0.25))  # evaluated again, against it
    assert report.against_ref == champion
    assert registry.approve(people.bob, ref).state == "approved"


def test_lower_bound_must_beat_the_champion_estimate(registry, people, banner):
    live(registry, people, banner, estimate=0.10, lower_bound=0.08)
    better_mean_weak_bound = evaluated(registry, people, banner, policy="sac", estimate=0.15, lower_bound=0.09)
    with pytest.raises(ApprovalRuleFailed, match="dr lower bound 0.09 does not beat the champion ppo:1 estimate 0.1"):
        registry.approve(people.bob, better_mean_weak_bound)
    assert registry.get_version(better_mean_weak_bound).state == "evaluated"
    assert registry.approvals(better_mean_weak_bound)[0].status == "open"
    strong = evaluated(registry, people, banner, policy="dqn", estimate=0.15, lower_bound=0.11)
    assert registry.approve(people.bob, strong).state == "approved"
    row = registry.audit_log(entity_name=strong)[-1]
    assert row.reason == ("rule 'lower_bound_beats_estimate': dr lower bound 0.11 > champion ppo:1 estimate 0.1")
    assert row.details["reference"]["estimate"] == 0.10


def test_configured_estimator_and_mean_and_lower_bound_rule(registry, people):
    registry.add_decision_point(people.root, "price", "pricing", [0.9, 1.0, 1.1], 1.0, approval_estimator="snips",
                                approval_rule="mean_and_lower_bound")
    two = {"ope": {"dr": {"estimate": 0.5, "ci": [0.4, 0.6]}, "snips": {"estimate": 0.10, "ci": [0.05, 0.15]}}}
    v = registry.register_version(people.alice, "price", "elastic", "file:///a", "cd" * 32)
    registry.attach_report(people.alice, v.ref, two)
    registry.request_approval(people.alice, v.ref)
    registry.approve(people.bob, v.ref)
    registry.start_canary(people.bob, v.ref, 5)
    registry.promote(people.bob, v.ref)
    # higher snips estimate, but its lower bound (0.04) is below the champion's (0.05): refused
    w = registry.register_version(people.alice, "price", "elastic", "file:///b", "cd" * 32)
    registry.attach_report(people.alice, w.ref, {"ope": {"dr": {"estimate": 0.9, "ci": [0.8, 1.0]},
                                                        "snips": {"estimate": 0.12, "ci": [0.04, 0.20]}}})
    registry.request_approval(people.alice, w.ref)
    with pytest.raises(ApprovalRuleFailed, match="mean_and_lower_bound.*snips"):
        registry.approve(people.bob, w.ref)
    registry.attach_report(people.alice, w.ref, {"ope": {"snips": {"estimate": 0.12, "ci": [0.06, 0.18]}}})
    assert registry.approve(people.bob, w.ref).state == "approved"


def test_without_a_champion_the_baseline_report_is_the_reference(registry, people, banner):
    registry.attach_baseline_report(people.alice, banner, ope_report(0.05, 0.04))
    weak = evaluated(registry, people, banner, policy="weak", estimate=0.06, lower_bound=0.03)
    with pytest.raises(ApprovalRuleFailed, match="does not beat the baseline estimate 0.05"):
        registry.approve(people.bob, weak)
    good = evaluated(registry, people, banner, policy="good", estimate=0.08, lower_bound=0.06)
    assert registry.approve(people.bob, good).state == "approved"


def test_estimator_missing_from_the_report_is_named(registry, people):
    registry.add_decision_point(people.root, "slot", "ad_slot", {"n_actions": 2}, 0, approval_estimator="switch_dr")
    ref = evaluated(registry, people, "slot")
    with pytest.raises(ApprovalRuleFailed, match="'switch_dr'.*only \\['dr'\\]"):
        registry.approve(people.bob, ref)


@pytest.mark.parametrize(("setup", "call", "message"), [
    ("candidate", lambda r, p, ref: r.start_canary(p.bob, ref, 10),
     "cannot go from 'candidate' to 'canary' \\(action 'start_canary'\\); 'start_canary' is allowed only from \\['approved'\\]"),
    ("evaluated", lambda r, p, ref: r.promote(p.bob, ref),
     "cannot go from 'evaluated' to 'live' \\(action 'promote'\\)"),
    ("approved", lambda r, p, ref: r.approve(p.carol, ref),
     "cannot go from 'approved' to 'approved' \\(action 'approve'\\)"),
    ("live", lambda r, p, ref: r.reject(p.bob, ref),
     "cannot go from 'live' to 'rejected' \\(action 'reject'\\)"),
    ("live", lambda r, p, ref: r.attach_report(p.alice, ref, ope_report(0.1, 0.05)),
     "cannot go from 'live' to 'evaluated' \\(action 'evaluate'\\)"),
    ("live", lambda r, p, ref: r.set_traffic(p.bob, ref, 50),
     "cannot go from 'live' to 'canary' \\(action 'set_traffic'\\)"),
])
def test_invalid_transitions_name_current_and_requested_state(registry, people, banner, setup, call, message):
    if setup == "candidate":
        ref = registry.register_version(people.alice, banner, "ppo", "file:///a", "cd" * 32).ref
    elif setup == "live":
        ref = live(registry, people, banner)
    else:
        ref = evaluated(registry, people, banner)
        if setup == "approved":
            registry.approve(people.bob, ref)
    before = registry.get_version(ref).state
    n_audit = len(registry.audit_log())
    with pytest.raises(InvalidTransition, match=f"invalid transition for policy version {ref}: {message}"):
        call(registry, people, ref)
    assert registry.get_version(ref).state == before
    assert len(registry.audit_log()) == n_audit


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
