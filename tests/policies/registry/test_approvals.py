"""Approvals on SQLite and PostgreSQL: evidence, four eyes, roles, reject and invalid transitions
(policies.registry.approvals)."""

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


def test_reject_from_evaluated_closes_the_request(registry, people, banner):
    ref = evaluated(registry, people, banner)
    assert registry.reject(people.bob, ref, "not convinced").state == "rejected"
    (request,) = registry.approvals(ref)
    assert (request.status, request.decided_by, request.decision_comment) == ("rejected", "bob", "not convinced")
    with pytest.raises(InvalidTransition, match="from 'rejected' to 'approved'"):
        registry.approve(people.carol, ref)


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
