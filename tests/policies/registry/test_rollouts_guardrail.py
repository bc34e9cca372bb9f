"""The canary guardrail on SQLite and PostgreSQL, fed by rows in the decision and reward logs."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from registry_helpers import evaluated, live

from policies.registry import AlreadyExists, NotFound
from policies.registry.guardrail import ArmStats, judge


def _canary(registry, people, dp, champion=True):
    ref_champion = live(registry, people, dp) if champion else None
    ref = evaluated(registry, people, dp, policy="challenger", estimate=0.2, lower_bound=0.15)
    registry.approve(people.bob, ref)
    registry.start_canary(people.bob, ref, 10)
    return ref_champion, ref


def _log(registry, dp, arm, version, rewards, prefix, at=None):
    for i, reward in enumerate(rewards):
        event_id = f"{prefix}-{i}"
        registry.log_decision(dp, event_id, arm, 1, version=version, propensity=0.5, context={"i": i}, at=at)
        if reward is not None:
            registry.log_reward(event_id, reward, at=at)


def _clicks(n, n_clicks):
    return [1.0 if i < n_clicks else 0.0 for i in range(n)]


def test_bad_canary_is_rolled_back_and_the_audit_log_says_why(registry, people, banner):
    champion, canary = _canary(registry, people, banner)
    _log(registry, banner, "champion", champion, _clicks(60, 30), "champ")  # mean 0.5
    _log(registry, banner, "challenger", canary, _clicks(40, 4), "canary")  # mean 0.1
    result = registry.check_canary(banner)
    assert result.verdict == "rolled_back"
    assert (result.canary_count, result.reference_count) == (40, 60)
    assert result.canary_mean == pytest.approx(0.1) and result.reference_mean == pytest.approx(0.5)
    expected_ucb = 0.1 + 1.6448536269514722 * math.sqrt((4 - 40 * 0.1**2) / 39) / math.sqrt(40)
    assert result.canary_ucb == pytest.approx(expected_ucb)
    assert result.threshold == pytest.approx(0.5)
    assert registry.get_version(canary).state == "rolled_back"
    assert registry.get_version(champion).state == "live"
    assert registry.traffic(banner).arms == (("champion", champion, 100.0),)
    row = registry.audit_log(entity_name=canary)[-1]
    assert (row.actor, row.action, row.from_state, row.to_state) == ("system:guardrail", "rollback", "canary",
                                                                     "rolled_back")
    assert row.reason.startswith("guardrail: canary below bound: canary mean 0.1 (n=40")
    assert f"champion {champion} mean 0.5 (n=60)" in row.reason
    assert row.details["canary_count"] == 40
    assert registry.rollouts(banner)[-1].end_reason == row.reason


def test_canary_within_bound_keeps_running(registry, people, banner):
    champion, canary = _canary(registry, people, banner)
    _log(registry, banner, "champion", champion, _clicks(60, 30), "champ")
    _log(registry, banner, "challenger", canary, _clicks(40, 19), "canary")  # 0.475: not clearly worse
    result = registry.check_canary(banner)
    assert result.verdict == "ok" and "within bound" in result.reason
    assert registry.get_version(canary).state == "canary"


def test_guardrail_waits_for_enough_rewards(registry, people, banner):
    champion, canary = _canary(registry, people, banner)
    _log(registry, banner, "champion", champion, _clicks(60, 30), "champ")
    _log(registry, banner, "challenger", canary, [0.0] * 19, "canary")  # min_count is 20
    result = registry.check_canary(banner)
    assert result.verdict == "insufficient_data" and "need 20 each" in result.reason
    assert registry.get_version(canary).state == "canary"


def test_decisions_past_the_reward_window_count_with_the_default_reward(registry, people):
    registry.add_decision_point(people.root, "slot", "ad_slot", {"n_actions": 2}, 0, reward_window_s=60,
                                default_reward=0.0, guardrail_min_count=20)
    champion, canary = _canary(registry, people, "slot")
    start = datetime.now(UTC)
    _log(registry, "slot", "champion", champion, _clicks(40, 20), "champ", at=start + timedelta(seconds=1))
    _log(registry, "slot", "challenger", canary, [None] * 30, "canary", at=start + timedelta(seconds=1))
    # within the window, unrewarded decisions are still pending: not counted
    soon = registry.check_canary("slot", now=start + timedelta(seconds=30))
    assert (soon.verdict, soon.canary_count) == ("insufficient_data", 0)
    # past the window they count as the default reward (0), and the canary is clearly below 0.5
    later = registry.check_canary("slot", now=start + timedelta(seconds=120))
    assert (later.verdict, later.canary_count, later.canary_mean) == ("rolled_back", 30, 0.0)


def test_without_a_champion_the_canary_is_compared_with_the_baseline_arm(registry, people, banner):
    _, canary = _canary(registry, people, banner, champion=False)
    _log(registry, banner, "baseline", None, _clicks(50, 25), "base")
    _log(registry, banner, "challenger", canary, _clicks(50, 2), "canary")
    result = registry.check_canary(banner)
    assert result.verdict == "rolled_back" and result.reference_arm == "baseline"
    assert registry.traffic(banner).arms == (("baseline", None, 100.0),)


def test_observed_means_and_counts_and_the_configured_bound(registry, people):
    registry.add_decision_point(people.root, "wide", "ad_slot", {"n_actions": 2}, 0, guardrail_bound=0.03,
                                guardrail_min_count=100)
    registry.add_decision_point(people.root, "tight", "ad_slot", {"n_actions": 2}, 0, guardrail_bound=0.0,
                                guardrail_min_count=100)
    observed = {"canary": {"mean": 0.02, "count": 500}, "champion": {"mean": 0.05, "count": 5000}}
    # ucb = 0.02 + 1.645 * sqrt(0.02 * 0.98) / sqrt(500) = 0.0303: above 0.05 - 0.03, below 0.05 - 0
    wide_canary = _canary_on(registry, people, "wide")
    tight_canary = _canary_on(registry, people, "tight")
    assert registry.check_canary("wide", observed).verdict == "ok"
    assert registry.get_version(wide_canary).state == "canary"
    result = registry.check_canary("tight", observed)
    assert result.verdict == "rolled_back"
    assert result.canary_ucb == pytest.approx(0.02 + 1.6448536269514722 * math.sqrt(0.02 * 0.98 / 500))
    assert registry.get_version(tight_canary).state == "rolled_back"


def _canary_on(registry, people, dp):
    ref = evaluated(registry, people, dp, policy=f"{dp}-c", estimate=0.2, lower_bound=0.15)
    registry.approve(people.bob, ref)
    registry.start_canary(people.bob, ref, 10)
    return ref


def test_no_canary_no_action(registry, people, banner):
    live(registry, people, banner)
    assert registry.check_canary(banner).verdict == "no_canary"


def test_log_validation(registry, people, banner):
    champion = live(registry, people, banner)
    registry.log_decision(banner, "e1", "champion", 2, version=champion, propensity=1.0)
    with pytest.raises(AlreadyExists, match="'e1' is already logged"):
        registry.log_decision(banner, "e1", "champion", 2, version=champion)
    with pytest.raises(ValueError, match="version: expected one for arm 'champion'"):
        registry.log_decision(banner, "e2", "champion", 2)
    with pytest.raises(ValueError, match="propensity: expected a number in \\(0, 1\\]"):
        registry.log_decision(banner, "e3", "champion", 2, version=champion, propensity=0.0)
    with pytest.raises(NotFound, match="no logged decision with event_id 'nope'"):
        registry.log_reward("nope", 1.0)
    registry.log_reward("e1", 1.0)
    with pytest.raises(AlreadyExists, match="already has a reward"):
        registry.log_reward("e1", 0.0)


def test_judge_known_answers():
    z = 1.6448536269514722
    canary, champion = ArmStats(1.0, 100, 2.0), ArmStats(1.5, 100, 2.0)
    verdict = judge(canary, champion, bound=0.1, confidence=0.95, min_count=50)
    assert verdict.canary_ucb == pytest.approx(1.0 + z * 0.2)  # 1.329 < 1.4
    assert verdict.threshold == pytest.approx(1.4) and verdict.verdict == "roll_back"
    assert judge(canary, champion, bound=0.2, confidence=0.95, min_count=50).verdict == "ok"  # 1.329 >= 1.3
    assert judge(canary, champion, bound=0.1, confidence=0.95, min_count=101).verdict == "insufficient_data"
    assert ArmStats.from_sums(4, 10.0, 30.0) == ArmStats(2.5, 4, math.sqrt((30 - 4 * 2.5**2) / 3))
    with pytest.raises(ValueError, match="std: needed when the mean \\(2.5\\) is outside \\[0, 1\\]"):
        ArmStats(2.5, 10)
