"""The dashboard's pure view functions (no Streamlit): evidence, actions, online results, tables, auth, config."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from dashboard_helpers import opereport

from dashboard import auth
from dashboard.config import load_config
from dashboard.plots import curves_plot, forest_plot, reward_plot, volume_plot
from dashboard.view_models.actions import (
    confirmation_matches,
    required_comment,
    review_actions,
    rollout_actions,
)
from dashboard.view_models.evidence import (
    approval_preview,
    forest_table,
    overlap_warnings,
    simulator_table,
    training_curves,
)
from dashboard.view_models.online import decision_totals, per_arm_table, reference_values, reward_series
from dashboard.view_models.tables import audit_table, filter_audit, review_order, traffic_rows
from policies.registry import AuditRecord, TrafficSplit
from policies.registry.records import ApprovalRecord, DecisionPointRecord, UserRecord, VersionRecord

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def user(name: str, role: str, uid: int = 1) -> UserRecord:
    return UserRecord(uid, name, role, True, NOW)


def version(ref: str, state: str, created_by: str = "alice", vid: int = 1, age_h: float = 0) -> VersionRecord:
    policy, number = ref.split(":")
    return VersionRecord(vid, ref, policy, int(number), "banner", state, "file:///a", "ab" * 32, {}, {},
                         created_by, NOW - timedelta(hours=age_h), NOW)


def request(by: str) -> ApprovalRecord:
    return ApprovalRecord(1, "ppo:2", by, "please", NOW, "open", None, None, None)


def dp(killed: bool = False) -> DecisionPointRecord:
    return DecisionPointRecord(1, "banner", "ad_slot", {"n_actions": 3}, 0, 86400.0, 0.0, None,
                               "lower_bound_beats_estimate", 0.0, 0.95, 100, killed, NOW)


# ---------------------------------------------------------------- evidence

def test_forest_table_reads_an_opereport_with_logging_and_champion():
    table = forest_table("ppo:2", opereport(0.05, 0.004, champion=0.04), champion_ref="ppo:1",
                         champion_report=opereport(0.9, 0.1))  # the same-log champion wins over its own report
    got = list(zip(table["policy"], table["role"], table["estimator"], strict=True))
    assert got == [("ppo:2", "candidate", "dr"), ("ppo:2", "candidate", "snips"),
                   ("logging policy", "logging", "on_policy"), ("champion ppo:1", "champion", "dr")]
    assert list(table["estimate"]) == pytest.approx([0.05, 0.051, 0.03, 0.04])
    assert table.loc[0, "ci_lo"] == pytest.approx(0.046) and table.loc[0, "ess"] == 5000.0


def test_forest_table_registry_shape_with_champion_and_baseline_reports():
    report = {"ope": [{"name": "dr", "estimate": 0.03, "ci": [0.02, 0.04], "diagnostics": {"ess": 10.0}}]}
    champion = {"ope": {"dr": {"estimate": 0.025, "lower_bound": 0.02}}}
    table = forest_table("lin:1", report, champion_ref="ppo:1", champion_report=champion, baseline_report=champion)
    assert list(table["policy"]) == ["lin:1", "champion ppo:1", "baseline action"]
    assert list(table["lower_bound"]) == [0.02, 0.02, 0.02]  # defaults to ci[0]
    assert forest_table("x:1", {"simulator": {"mean_reward": 1.0}}).empty


def test_overlap_warnings_from_words_and_from_numbers():
    worded = forest_table("a:1", opereport(0.05, 0.01, warnings=["Limited overlap: few rows."]))
    assert overlap_warnings(worded) == ["a:1: Limited overlap: few rows."]
    numbers = {"ope": [
        {"name": "ips", "estimate": 0.1, "ci": [0, 0.2], "diagnostics": {"ess": 50.0, "n_rounds": 10_000}},
        {"name": "dr", "estimate": 0.1, "ci": [0, 0.2], "diagnostics": {"ess": 800.0, "ess_share": 0.08}},
        {"name": "sn", "estimate": 0.1, "ci": [0, 0.2],
         "diagnostics": {"ess_share": 0.5, "max_weight": 300.0, "max_weight_share": 0.2}},
        {"name": "ok", "estimate": 0.1, "ci": [0, 0.2], "diagnostics": {"ess_share": 0.5, "max_weight_share": 0.01}}]}
    warnings = overlap_warnings(forest_table("b:1", numbers))
    assert len(warnings) == 3
    assert warnings[0].startswith("b:1 (ips): very little overlap") and "50 rows (0.50%)" in warnings[0]
    assert warnings[1].startswith("b:1 (dr): limited overlap") and "8.0%" in warnings[1]
    assert warnings[2].startswith("b:1 (sn): a single logged row carries 20.0%")


def test_approval_preview_pass_fail_and_unknown():
    candidate = {"ope": [{"name": "dr", "estimate": 0.05, "ci": [0.045, 0.055]}]}
    champion = {"ope": [{"name": "dr", "estimate": 0.04, "ci": [0.03, 0.05]}]}
    ok, text = approval_preview("lower_bound_beats_estimate", None, candidate, champion, "champion ppo:1")
    assert ok is True and text == "passes: dr lower bound 0.045 > champion ppo:1 estimate 0.04"
    ok, text = approval_preview("mean_and_lower_bound", None, candidate,
                                {"ope": [{"name": "dr", "estimate": 0.06, "ci": [0.05, 0.07]}]}, "champion ppo:1")
    assert ok is False and "failed" in text
    ok, text = approval_preview("lower_bound_beats_estimate", None, candidate,
                                {"ope": [{"name": "ips", "estimate": 0.04, "ci": [0.03, 0.05]}]}, "champion")
    assert ok is False and "no 'dr' estimate" in text
    assert approval_preview("lower_bound_beats_estimate", None, {"simulator": {"x": 1}}, None, "none")[0] is None


def test_training_curves_shapes_and_simulator_table():
    curves = training_curves({"curve": {"step": [0, 10, 20], "reward": [0.1, 0.2, 0.3]},
                              "episode_len": [5, 6], "final": 0.3,
                              "evals": [{"timesteps": 1, "mean": 0.5}, {"timesteps": 2, "mean": 0.7}]})
    assert sorted(curves) == ["curve.reward", "episode_len", "evals.mean"]
    assert list(curves["curve.reward"]["x"]) == [0, 10, 20] and list(curves["curve.reward"]["y"]) == [0.1, 0.2, 0.3]
    assert list(curves["episode_len"]["x"]) == [0, 1]
    assert list(curves["evals.mean"]["x"]) == [1, 2]
    assert training_curves({"final": 1.0}) == {} and training_curves(None) == {}
    sim = simulator_table({"simulator": {"mean_reward": 0.0312345, "arms": {"random": 0.02}}})
    assert sim.values.tolist() == [["mean_reward", "0.03123"], ["arms.random", "0.02"]]


# ---------------------------------------------------------------- actions

def test_review_actions_four_eyes_and_roles():
    evaluated = version("ppo:2", "evaluated", created_by="alice")
    states = review_actions(user("bob", "approver"), evaluated, request("bob"))
    assert not states["approve"].enabled and "Four eyes: you (bob) requested" in states["approve"].reason
    assert not states["request"].enabled and "already open (by bob)" in states["request"].reason
    assert states["reject"].enabled
    states = review_actions(user("alice", "approver"), evaluated, request("carol"))
    assert not states["approve"].enabled and "registered this version" in states["approve"].reason
    assert review_actions(user("carol", "approver"), evaluated, request("alice"))["approve"].enabled
    states = review_actions(user("alice", "requester"), evaluated, None)
    assert states["request"].enabled
    assert "you need the role 'approver'" in states["approve"].reason and not states["reject"].enabled
    states = review_actions(user("carol", "approver"), evaluated, None)
    assert "Nobody has requested approval" in states["approve"].reason
    states = review_actions(user("carol", "approver"), version("ppo:2", "candidate"), None)
    assert "no evaluation report yet" in states["request"].reason and "'evaluated'" in states["approve"].reason
    viewer = review_actions(user("victor", "viewer"), evaluated, None)
    assert not any(s.enabled for s in viewer.values()) and "Your role is 'viewer'" in viewer["request"].reason


def test_rollout_actions():
    approver = user("bob", "approver")
    versions = [version("ppo:1", "live"), version("ppo:2", "approved", vid=2)]
    states = rollout_actions(approver, dp(), versions)
    assert states["start_canary"].enabled and states["rollback"].enabled and states["kill"].enabled
    assert not states["promote"].enabled and "No canary is running" in states["promote"].reason
    assert not states["revive"].enabled
    killed = rollout_actions(approver, dp(killed=True), versions)
    assert "kill switch of banner is on" in killed["start_canary"].reason and killed["revive"].enabled
    canary = rollout_actions(approver, dp(), [version("ppo:1", "live"), version("ppo:2", "canary", vid=2)])
    assert canary["promote"].enabled and "already runs as the canary" in canary["start_canary"].reason
    nothing = rollout_actions(approver, dp(), [version("ppo:1", "candidate")])
    assert "No version is approved" in nothing["start_canary"].reason
    assert "Nothing to roll back" in nothing["rollback"].reason
    requester = rollout_actions(user("alice", "requester"), dp(), versions)
    assert not any(s.enabled for s in requester.values())


def test_confirmation_and_comment_helpers():
    assert confirmation_matches(" banner ", "banner") and not confirmation_matches("Banner", "banner")
    assert not confirmation_matches(None, "banner")
    assert required_comment("  ok ", "approve") == "ok"
    with pytest.raises(ValueError, match="comment is required to approve"):
        required_comment("  ", "approve")


# ---------------------------------------------------------------- online results

def _bucket(start, arm, decisions, rewarded, rewards, ref="ppo:1", expired=0):
    return {"start": start, "arm": arm, "version_ref": ref, "decisions": decisions, "rewarded": rewarded,
            "expired": expired, "pending": decisions - rewarded - expired, "settled": rewarded + expired,
            "reward_sum": float(sum(rewards)), "reward_sq_sum": float(sum(r * r for r in rewards))}


def test_reward_series_interval_known_answer():
    buckets = [_bucket(NOW, "champion", 5, 4, [1, 0, 1, 0]), _bucket(NOW, "baseline", 1, 1, [1], ref=None)]
    series = reward_series(buckets)
    champion = series[series["arm"] == "champion"].iloc[0]
    half = 1.959963984540054 * math.sqrt((1 / 3) / 4)  # s^2 = (2 - 4 * 0.25) / 3
    assert champion["mean"] == 0.5 and champion["lo"] == pytest.approx(0.5 - half)
    assert champion["hi"] == pytest.approx(0.5 + half) and champion["decisions"] == 5
    baseline = series[series["arm"] == "baseline (fallback)"].iloc[0]
    assert baseline["mean"] == 1.0 and pd.isna(baseline["lo"])  # one reward: no interval
    with pytest.raises(ValueError, match="confidence"):
        reward_series(buckets, confidence=1.5)


def test_totals_and_per_arm_table():
    buckets = [_bucket(NOW, "champion", 6, 3, [1, 1, 0], expired=1),
               _bucket(NOW, "baseline", 2, 1, [0], ref=None),
               _bucket(NOW + timedelta(hours=1), "champion", 2, 2, [1, 1])]
    totals = decision_totals(buckets)
    assert totals == {"decisions": 10, "rewarded": 6, "expired": 1, "pending": 3, "fallbacks": 2,
                      "join_rate": 0.6, "fallback_share": 0.2}
    table = per_arm_table(buckets)
    assert table.values.tolist()[0][:6] == ["baseline (fallback)", "-", 2, "20.0%", "50%", "0"]
    assert table.values.tolist()[1][:6] == ["champion", "ppo:1", 8, "80.0%", "62%", "0.667"]
    assert decision_totals([])["join_rate"] is None


def test_reference_values():
    refs = reference_values([opereport(0.05, 0.01)], {"ope": [{"name": "dr", "estimate": 0.02, "ci": [0, 0.04]}]})
    assert refs == {"baseline action (offline)": 0.02, "logging policy (logged mean)": 0.03,
                    "random (simulator)": 0.02}
    assert reference_values([]) == {}


# ---------------------------------------------------------------- tables

def test_review_order_waiting_first_then_state_then_newest():
    versions = [version("a:1", "candidate", vid=1, age_h=1), version("b:1", "evaluated", vid=2, age_h=5),
                version("c:1", "evaluated", vid=3, age_h=2), version("d:1", "live", vid=4),
                version("e:1", "canary", vid=5)]
    assert [v.ref for v in review_order(versions, ["b:1"])] == ["b:1", "c:1", "a:1", "e:1"]


def test_traffic_rows_and_audit_filters():
    split = TrafficSplit("banner", False, (("champion", "ppo:1", 90.0), ("challenger", "ppo:2", 10.0)))
    assert traffic_rows(split).values.tolist() == [["champion", "ppo:1", "90%"], ["canary", "ppo:2", "10%"]]
    rows = [AuditRecord(1, NOW, "bob", "approve", "policy_version", 1, "ppo:1", "evaluated", "approved", "fine"),
            AuditRecord(2, NOW + timedelta(days=1), "bob", "kill", "decision_point", 1, "banner", "serving",
                        "killed", "outage 42"),
            AuditRecord(3, NOW + timedelta(days=2), "carol", "approve", "policy_version", 2, "ppo:2", "evaluated",
                        "approved", None, {"comment": "Incident-free"})]
    assert [r.id for r in filter_audit(rows, actions=["approve"])] == [1, 3]
    assert [r.id for r in filter_audit(rows, since=NOW + timedelta(hours=1))] == [2, 3]
    assert [r.id for r in filter_audit(rows, until=NOW + timedelta(hours=1))] == [1]
    assert [r.id for r in filter_audit(rows, text="incident")] == [3]
    assert [r.id for r in filter_audit(rows, text="OUTAGE")] == [2]
    table = audit_table(rows)
    assert list(table["#"]) == [3, 2, 1] and table.loc[2, "change"] == "evaluated → approved"


# ---------------------------------------------------------------- plots (figures are built; content checked)

def test_plots_draw_what_they_are_given():
    table = forest_table("ppo:2", opereport(0.05, 0.004, champion=0.04))
    fig = forest_plot(table)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]  # bottom to top; per estimator, candidate first
    assert labels == ["snips · ppo:2", "on_policy · logging policy", "dr · champion", "dr · ppo:2"]
    series = reward_series([_bucket(NOW, "champion", 3, 3, [1, 0, 1])])
    fig = reward_plot(series, {"random (simulator)": 0.1})
    assert {line.get_label() for line in fig.axes[0].lines} >= {"champion", "random (simulator)"}
    assert len(curves_plot({"a": pd.DataFrame({"x": [0, 1], "y": [1, 2]})}).axes) == 1
    assert volume_plot(pd.DataFrame(columns=["start", "arm", "decisions", "rewarded", "join_rate"])).axes


# ---------------------------------------------------------------- auth and config

class FakeRegistry:
    def __init__(self, users, password="right-pass"):
        self.users, self.password = users, password

    def authenticate(self, username, password):
        from policies.registry import AuthenticationFailed

        found = next((u for u in self.users if u.username == username), None)
        if found is None or password != self.password:
            raise AuthenticationFailed("authentication failed")
        return found

    def list_users(self):
        return list(self.users)


def test_session_expires_after_idle_time_and_follows_the_registry():
    bob = user("bob", "approver")
    registry = FakeRegistry([bob])
    state: dict = {}
    from policies.registry import AuthenticationFailed

    with pytest.raises(AuthenticationFailed):
        auth.sign_in(registry, state, "bob", "wrong", NOW)
    assert auth.USER_KEY not in state
    with pytest.raises(ValueError, match="user name and a password"):
        auth.sign_in(registry, state, "", "", NOW)
    auth.sign_in(registry, state, "bob", "right-pass", NOW)
    assert auth.current_user(registry, state, NOW + timedelta(minutes=29), 1800) == bob
    assert auth.current_user(registry, state, NOW + timedelta(minutes=58), 1800) == bob  # seen at minute 29
    assert auth.current_user(registry, state, NOW + timedelta(minutes=89), 1800) is None
    assert "expired after 30 minutes" in state[auth.NOTICE_KEY]
    auth.sign_in(registry, state, "bob", "right-pass", NOW)
    registry.users = [UserRecord(bob.id, "bob", "viewer", True, NOW)]  # demoted: the new role is used
    assert auth.current_user(registry, state, NOW, 1800).role == "viewer"
    registry.users = [UserRecord(bob.id, "bob", "viewer", False, NOW)]  # deactivated
    assert auth.current_user(registry, state, NOW, 1800) is None and "can no longer sign in" in state[auth.NOTICE_KEY]


def test_load_config():
    config = load_config({"DATABASE_URL": "sqlite:////tmp/x.db", "RETAILRL_DASHBOARD_IDLE_MINUTES": "5"})
    assert config.database_url == "sqlite:////tmp/x.db" and config.idle_seconds == 300.0
    assert load_config({"DATABASE_URL": "postgresql://u@h/db"}).database_url == "postgresql+psycopg://u@h/db"
    assert load_config({"DATABASE_URL": "sqlite:////tmp/x.db"}).idle_minutes == 30.0
    for bad in ("0", "-1", "soon", "nan"):
        with pytest.raises(ValueError, match="RETAILRL_DASHBOARD_IDLE_MINUTES"):
            load_config({"DATABASE_URL": "sqlite:////tmp/x.db", "RETAILRL_DASHBOARD_IDLE_MINUTES": bad})
