"""What the decision API needs from the registry: batch decision logging, idempotent rewards inside the reward
window, deferred activation, explicit default rewards, the joined log and the change counter (SQLite and
PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from registry_helpers import live
from sqlalchemy import select

from policies.registry.log_records import DecisionRow, RewardRow
from policies.registry.models import DecisionLog, utcnow


@pytest.fixture
def served(registry, people, banner):
    """banner with a live version; reward window 60 s, default reward -1."""
    ref = live(registry, people, banner)
    return ref


def _decision(event_id, ref, **kw):
    return DecisionRow("banner", event_id, "champion", 1, version=ref, propensity=0.5, context={"x": [1]}, **kw)


def test_log_decisions_stores_a_batch_and_reports_duplicates(registry, served):
    t0 = utcnow()
    assert registry.log_decisions([_decision("a", served, at=t0), _decision("b", served, at=t0),
                                   _decision("a", served, at=t0)]) == [True, True, False]
    assert registry.log_decisions([_decision("b", served), DecisionRow("banner", "c", "baseline", 0)]) == [False, True]
    with registry.engine.connect() as conn:
        rows = {e: (arm, context) for e, arm, context in conn.execute(
            select(DecisionLog.event_id, DecisionLog.arm, DecisionLog.context))}
    assert rows == {"a": ("champion", {"x": [1]}), "b": ("champion", {"x": [1]}), "c": ("baseline", None)}
    assert registry.joined_events("banner") == []  # no rewards yet


def test_log_decisions_refuses_an_invalid_batch_whole(registry, served):
    with pytest.raises(ValueError, match=r"rows\[1\].propensity"):
        registry.log_decisions([_decision("ok", served), _decision("bad", served).__class__(
            "banner", "bad", "champion", 1, version=served, propensity=0.0)])
    with pytest.raises(ValueError, match=r"rows\[0\].version: the baseline arm has no version"):
        registry.log_decisions([DecisionRow("banner", "z", "baseline", 0, version=served)])
    assert registry.log_decisions([_decision("ok", served)]) == [True]  # nothing of the refused batch was stored


def test_rewards_are_idempotent_and_refused_outside_the_window(registry, people, served):
    dp_window = registry.get_decision_point("banner").reward_window_s
    t0 = utcnow()
    registry.log_decisions([_decision("e1", served, at=t0), _decision("e2", served, at=t0),
                            _decision("old", served, at=t0 - timedelta(seconds=dp_window + 1))])
    out = registry.log_rewards([RewardRow("e1", 1.0), RewardRow("e1", 1.0), RewardRow("e2", 0.5, slot=0),
                                RewardRow("nope", 1.0), RewardRow("old", 1.0)])
    assert out == ["stored", "duplicate", "stored", "unknown_event", "window_closed"]
    assert registry.log_rewards([RewardRow("e1", 1.0), RewardRow("e1", 2.0), RewardRow("e2", 0.5, slot=1)]) == [
        "duplicate", "conflict", "conflict"]
    joined = registry.joined_events("banner")
    assert [(j.event_id, j.reward, j.slot, j.is_default, j.version_ref) for j in joined] == [
        ("e1", 1.0, None, False, served), ("e2", 0.5, 0, False, served)]
    assert registry.joined_events("banner", after_reward_id=joined[0].reward_id) == joined[1:]
    with pytest.raises(ValueError, match=r"rows\[0\].reward"):
        registry.log_rewards([RewardRow("e1", float("nan"))])
    with pytest.raises(ValueError, match=r"rows\[0\].slot"):
        registry.log_rewards([RewardRow("e1", 1.0, slot=-1)])


def test_deferred_decisions_take_rewards_only_after_activation(registry, served):
    t0 = utcnow()
    registry.log_decisions([_decision("d1", served, at=t0 - timedelta(days=30), deferred=True)])
    assert registry.log_rewards([RewardRow("d1", 1.0)]) == ["not_activated"]
    assert registry.assign_default_rewards() == 0  # never activated: no window has started, no default reward
    assert registry.activate_decision("d1") == "activated"
    assert registry.activate_decision("d1") == "already_active"
    assert registry.activate_decision("missing") == "unknown_event"
    assert registry.log_rewards([RewardRow("d1", 1.0)]) == ["stored"]  # the window starts at activation


def test_default_rewards_are_logged_once_at_the_end_of_the_window(registry, people, served):
    window = timedelta(seconds=registry.get_decision_point("banner").reward_window_s)
    t0 = utcnow() - window - timedelta(seconds=10)
    registry.log_decisions([_decision("late", served, at=t0), _decision("paid", served, at=t0),
                            _decision("fresh", served)])
    registry.log_rewards([RewardRow("paid", 3.0, at=t0 + timedelta(seconds=1))])
    assert registry.assign_default_rewards(grace_s=60.0) == 0  # the window ended only 10 s ago
    assert registry.assign_default_rewards(ended_after=utcnow() - timedelta(seconds=5)) == 0  # swept up to there
    assert registry.assign_default_rewards(ended_after=utcnow() - timedelta(seconds=20)) == 1
    assert registry.assign_default_rewards() == 0  # idempotent
    joined = {j.event_id: j for j in registry.joined_events("banner")}
    assert set(joined) == {"late", "paid"}
    late = joined["late"]
    default = registry.get_decision_point("banner").default_reward
    assert late.is_default and late.reward == default and late.rewarded_at == t0 + window
    assert registry.log_rewards([RewardRow("late", 1.0, at=t0)]) == ["window_closed"]


def test_last_change_id_grows_with_registry_changes(registry, people, banner):
    before = registry.last_change_id()
    registry.kill(people.bob, banner, "test")
    assert registry.last_change_id() > before
