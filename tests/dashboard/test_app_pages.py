"""The dashboard app through streamlit's AppTest: sign-in gate and expiry, every page on an empty and a populated
registry, the approval flow (four eyes) and the rollout confirmations, with the registry checked afterwards."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import PASSWORDS
from dashboard_helpers import new_app, open_page, sign_in, texts

from dashboard import auth
from dashboard.views import PAGES
from policies.registry import Registry

PAGE_NAMES = list(PAGES)


def _signed_in(user: str):
    at = sign_in(new_app(), user, PASSWORDS[user])
    assert not at.exception, at.exception
    return at


def _labels(at, kind="button"):
    return {e.label: e for e in getattr(at, kind)}


def test_nothing_but_the_sign_in_form_before_sign_in(populated_db):
    at = new_app().run()
    assert not at.exception
    assert [t.label for t in at.text_input] == ["User name", "Password"]
    assert len(at.sidebar.radio) == 0 and len(at.dataframe) == 0 and len(at.metric) == 0
    assert "banner" not in texts(at) and "Overview" not in texts(at)


def test_wrong_password_is_refused_and_shows_nothing(populated_db):
    at = sign_in(new_app(), "bob", "wrong-password")
    assert "Sign-in failed" in texts(at)
    assert len(at.sidebar.radio) == 0 and auth.USER_KEY not in at.session_state
    at = sign_in(new_app(), "nobody", "whatever-1")
    assert "Sign-in failed" in texts(at) and len(at.dataframe) == 0


def test_sign_in_then_sign_out(populated_db):
    at = _signed_in("bob")
    assert "Signed in as **bob** (approver)" in texts(at)
    assert at.sidebar.radio(key="nav").options == PAGE_NAMES
    at.sidebar.button(key="sign_out").click().run()
    assert len(at.sidebar.radio) == 0 and "You signed out." in texts(at)


def test_idle_session_expires(populated_db, monkeypatch):
    monkeypatch.setenv("RETAILRL_DASHBOARD_IDLE_MINUTES", "5")
    at = _signed_in("bob")
    at.session_state[auth.LAST_SEEN_KEY] = at.session_state[auth.LAST_SEEN_KEY] - timedelta(minutes=6)
    at.run()
    assert len(at.sidebar.radio) == 0
    assert "session expired after 5 minutes" in texts(at)
    # a session seen 4 minutes ago is kept
    at = _signed_in("bob")
    at.session_state[auth.LAST_SEEN_KEY] = at.session_state[auth.LAST_SEEN_KEY] - timedelta(minutes=4)
    at.run()
    assert len(at.sidebar.radio) == 1


def test_deactivated_user_is_signed_out_on_the_next_run(populated_db):
    at = _signed_in("carol")
    registry = Registry(populated_db)
    root = registry.authenticate("root", PASSWORDS["root"])
    registry.set_active(root, "carol", False)
    registry.close()
    at.run()
    assert len(at.sidebar.radio) == 0 and "can no longer sign in" in texts(at)


@pytest.mark.parametrize("page", PAGE_NAMES)
def test_every_page_renders_on_an_empty_registry(empty_db, page):
    at = open_page(_signed_in("bob"), page)
    assert not at.exception, at.exception
    assert page in texts(at)
    if page in ("Overview", "Candidates", "Review", "Rollout", "Decisions"):
        assert "no decision points yet" in texts(at)


EXPECTED = {
    "Overview": ["Champion: ppo:1", "Canary: ppo:2 at 10%", "Kill switch: off", "pricing (pricing)"],
    "Candidates": ["Off-policy evaluation", "Limited overlap", "Simulator results", "Training",
                   "passes: dr lower bound 0.049 > champion ppo:1 estimate 0.04"],
    "Review": ["1 approval request(s) waiting", "linucb:1", "Approval requested by **alice**"],
    "Rollout": ["Champion: ppo:1", "Canary: ppo:2", "ppo:2 already runs as the canary"],
    "Decisions": ["Decisions: 120", "Reward join rate: 75.0%", "Fallbacks (baseline served): 7 (5.8%)"],
    "Audit": ["rows", "Append-only"],
}


@pytest.mark.parametrize("page", PAGE_NAMES)
def test_every_page_renders_on_a_populated_registry(populated_db, page):
    at = open_page(_signed_in("carol"), page)
    assert not at.exception, at.exception
    shown = texts(at)
    for expected in EXPECTED[page]:
        assert expected in shown, (expected, shown)
    if page in ("Overview", "Candidates", "Decisions"):
        assert len(at.get("image")) >= 1  # the plots are drawn next to the tables
    assert len(at.dataframe) >= 1


def test_decisions_page_counts_match_the_logs(populated_db):
    at = open_page(_signed_in("victor"), "Decisions")
    recent = at.dataframe[-1].value
    assert len(recent) == 50 and recent["event"].iloc[0] == "ev-119"
    at.slider(key="decisions_limit").set_value(500).run()
    assert len(at.dataframe[-1].value) == 120


def test_audit_page_filters(populated_db):
    at = open_page(_signed_in("victor"), "Audit")
    everything = len(at.dataframe[0].value)
    at.text_input(key="audit_entity").input("ppo:*").run()
    rows = at.dataframe[0].value
    assert 0 < len(rows) < everything and rows["entity"].str.contains("ppo:").all()
    at.multiselect(key="audit_actions").set_value(["approve"]).run()
    assert set(at.dataframe[0].value["action"]) == {"approve"}
    assert len(at.dataframe[0].value) == 2


def _review(at, version: str, comment: str = ""):
    at = open_page(at, "Review")
    options = at.selectbox(key="review_version").options
    at.selectbox(key="review_version").set_value(next(o for o in options if o.startswith(version + " "))).run()
    if comment:
        at.text_area[0].input(comment).run()
    return at


def test_approval_flow_four_eyes(populated_db):
    # bob (an approver) requests approval of greedy:1 ...
    at = _review(_signed_in("bob"), "greedy:1", "DR lower bound beats the champion")
    assert not _labels(at)["Request approval"].disabled
    at.button(key="review_request").click().run()
    assert "Approval of greedy:1 requested." in texts(at)
    # ... so bob may not approve it: the button is disabled and the page says why
    at = _review(at, "greedy:1")
    assert _labels(at)["Approve"].disabled
    assert "Four eyes: you (bob) requested this approval" in texts(at)
    # alice is a requester: not allowed to approve, and told so
    at_alice = _review(_signed_in("alice"), "greedy:1")
    assert _labels(at_alice)["Approve"].disabled and "you need the role 'approver'" in texts(at_alice)
    # carol approves; a comment is required
    at_carol = _review(_signed_in("carol"), "greedy:1")
    assert not _labels(at_carol)["Approve"].disabled
    at_carol.button(key="review_approve").click().run()
    assert "A comment is required to approve" in texts(at_carol)
    at_carol = _review(at_carol, "greedy:1", "evidence is convincing")
    at_carol.button(key="review_approve").click().run()
    assert not at_carol.exception and "greedy:1 approved." in texts(at_carol)
    registry = Registry(populated_db)
    assert registry.get_version("greedy:1").state == "approved"
    (decision,) = [a for a in registry.approvals("greedy:1") if a.status == "approved"]
    assert (decision.requested_by, decision.decided_by, decision.decision_comment) == (
        "bob", "carol", "evidence is convincing")
    assert registry.audit_log(entity_name="greedy:1")[-1].actor == "carol"
    registry.close()


def test_registry_refusal_is_shown(populated_db):
    # the champion changed after linucb:1's report? No: make the rule fail by promoting a better champion first.
    registry = Registry(populated_db)
    bob = registry.authenticate("bob", PASSWORDS["bob"])
    registry.promote(bob, "ppo:2", "canary is good")  # linucb:1's report is now against an old champion
    registry.close()
    at = _review(_signed_in("carol"), "linucb:1", "looks fine")
    at.button(key="review_approve").click().run()
    assert "The registry refused: cannot approve linucb:1: no evaluation report against the current champion" \
        in texts(at)
    registry = Registry(populated_db)
    assert registry.get_version("linucb:1").state == "evaluated"
    registry.close()


def test_reject_needs_a_comment_and_is_recorded(populated_db):
    at = _review(_signed_in("carol"), "linucb:1")
    at.button(key="review_reject").click().run()
    assert "A comment is required to reject" in texts(at)
    at = _review(at, "linucb:1", "overlap too low")
    at.button(key="review_reject").click().run()
    registry = Registry(populated_db)
    assert registry.get_version("linucb:1").state == "rejected"
    assert registry.audit_log(entity_name="linucb:1")[-1].reason == "overlap too low"
    registry.close()


def test_viewer_sees_disabled_buttons_with_reasons(populated_db):
    at = _review(_signed_in("victor"), "linucb:1")
    assert all(b.disabled for b in at.button if b.label in ("Request approval", "Approve", "Reject"))
    assert "Your role is 'viewer'" in texts(at)
    at = open_page(at, "Rollout")
    assert all(b.disabled for b in at.button if b.label.endswith("…"))


def test_kill_switch_needs_confirmation(populated_db):
    at = open_page(_signed_in("bob"), "Rollout")
    at.button(key="rollout_kill").click().run()
    assert "Confirm:" in texts(at) and "Send 100% of banner to its baseline action" in texts(at)
    # wrong name: nothing happens
    at.text_input(key="rollout_confirm_name").input("bannr").run()
    at.text_input(key="rollout_confirm_reason").input("outage").run()
    at.button(key="rollout_confirm").click().run()
    assert "Type 'banner' exactly to confirm; nothing changed." in texts(at)
    registry = Registry(populated_db)
    assert not registry.get_decision_point("banner").killed
    at.text_input(key="rollout_confirm_name").input("banner").run()
    at.button(key="rollout_confirm").click().run()
    assert not at.exception and "recorded in the audit log" in texts(at)
    assert registry.get_decision_point("banner").killed
    last = registry.audit_log(entity_name="banner")[-1]
    assert (last.actor, last.action, last.reason) == ("bob", "kill", "outage")
    assert "Kill switch ON" in texts(at)
    registry.close()


def test_cancel_changes_nothing_and_reason_is_required(populated_db):
    at = open_page(_signed_in("bob"), "Rollout")
    at.button(key="rollout_rollback").click().run()
    at.text_input(key="rollout_confirm_name").input("banner").run()
    at.button(key="rollout_confirm").click().run()
    assert "A reason is required" in texts(at)
    at.button(key="rollout_cancel").click().run()
    assert "Cancelled; nothing changed." in texts(at)
    registry = Registry(populated_db)
    assert registry.get_version("ppo:2").state == "canary"
    registry.close()


def test_promote_canary_then_start_a_new_canary(populated_db):
    registry = Registry(populated_db)
    carol = registry.authenticate("carol", PASSWORDS["carol"])
    at = open_page(_signed_in("bob"), "Rollout")
    at.button(key="rollout_promote").click().run()
    at.text_input(key="rollout_confirm_name").input("banner").run()
    at.button(key="rollout_confirm").click().run()
    assert registry.get_version("ppo:2").state == "live" and registry.get_version("ppo:1").state == "retired"
    # approve greedy:1 outside the page (its report is against ppo:1, so evaluate again first), then canary it
    alice = registry.authenticate("alice", PASSWORDS["alice"])
    registry.attach_report(alice, "greedy:1", {"ope": [{"name": "dr", "estimate": 0.07, "ci": [0.06, 0.08]}]})
    registry.request_approval(alice, "greedy:1", "again")
    registry.approve(carol, "greedy:1", "ok")
    at.run()
    at.selectbox(key="rollout_version").set_value("greedy:1").run()
    at.slider(key="rollout_share").set_value(20).run()
    at.button(key="rollout_start_canary").click().run()
    assert "Send 20% of banner to greedy:1" in texts(at)
    at.text_input(key="rollout_confirm_name").input("banner").run()
    at.button(key="rollout_confirm").click().run()
    assert not at.exception
    split = registry.traffic("banner")
    assert split.arms == (("champion", "ppo:2", 80.0), ("challenger", "greedy:1", 20.0))
    registry.close()
