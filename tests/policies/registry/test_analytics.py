"""The registry's read-only methods for the dashboard: decisions per time bucket, recent decisions, open approvals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from registry_helpers import evaluated, live

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # on an hour boundary


def _log(registry, event_id, arm, version, at, reward=None, action=1):
    registry.log_decision("banner", event_id, arm, action, version=version, propensity=0.5, at=at)
    if reward is not None:
        registry.log_reward(event_id, reward, at=at + timedelta(seconds=5))


def test_decision_buckets_counts_rewards_by_hour_and_arm(registry, people, banner):
    champion = live(registry, people, banner, "ppo")
    # hour 10: champion 3 decisions, rewards 1 and 0, one without reward (window 1 day: still pending at 'now')
    _log(registry, "a1", "champion", champion, T0 + timedelta(minutes=1), 1.0)
    _log(registry, "a2", "champion", champion, T0 + timedelta(minutes=2), 0.0)
    _log(registry, "a3", "champion", champion, T0 + timedelta(minutes=3))
    _log(registry, "b1", "baseline", None, T0 + timedelta(minutes=30), 1.0, action=0)
    # hour 11: champion 1 decision rewarded 1
    _log(registry, "c1", "champion", champion, T0 + timedelta(minutes=61), 1.0)
    now = T0 + timedelta(hours=2)
    rows = registry.decision_buckets(banner, bucket_s=3600, now=now)
    got = [(r["start"], r["arm"], r["version_ref"], r["decisions"], r["rewarded"], r["expired"], r["pending"],
            r["reward_sum"], r["mean_reward"]) for r in rows]
    assert got == [
        (T0, "baseline", None, 1, 1, 0, 0, 1.0, 1.0),
        (T0, "champion", champion, 3, 2, 0, 1, 1.0, 0.5),
        (T0 + timedelta(hours=1), "champion", champion, 1, 1, 0, 0, 1.0, 1.0),
    ]
    assert rows[1]["reward_sq_sum"] == 1.0


def test_decision_buckets_expired_decisions_count_with_default_reward(registry, people, banner):
    champion = live(registry, people, banner, "ppo")
    _log(registry, "a1", "champion", champion, T0, 1.0)
    _log(registry, "a2", "champion", champion, T0 + timedelta(minutes=1))  # never rewarded
    later = T0 + timedelta(days=2)  # the 1-day reward window has passed: default reward 0.0 counts
    (row,) = registry.decision_buckets(banner, bucket_s=86_400, now=later)
    assert (row["decisions"], row["rewarded"], row["expired"], row["pending"], row["settled"]) == (2, 1, 1, 0, 2)
    assert row["mean_reward"] == pytest.approx(0.5)
    assert row["start"] == datetime(2026, 3, 2, tzinfo=UTC)


def test_decision_buckets_since_until_and_empty(registry, people, banner):
    assert registry.decision_buckets(banner) == []
    champion = live(registry, people, banner, "ppo")
    for i in range(4):
        _log(registry, f"e{i}", "champion", champion, T0 + timedelta(hours=i), float(i % 2))
    rows = registry.decision_buckets(banner, since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=3),
                                     now=T0 + timedelta(hours=5))
    assert [(r["start"], r["decisions"], r["mean_reward"]) for r in rows] == [
        (T0 + timedelta(hours=1), 1, 1.0), (T0 + timedelta(hours=2), 1, 0.0)]
    with pytest.raises(ValueError, match="bucket_s"):
        registry.decision_buckets(banner, bucket_s=0)


def test_recent_decisions_newest_first_with_rewards(registry, people, banner):
    champion = live(registry, people, banner, "ppo")
    _log(registry, "old", "champion", champion, T0, 1.0)
    _log(registry, "new", "baseline", None, T0 + timedelta(minutes=5), action=0)
    rows = registry.recent_decisions(banner, limit=10)
    assert [(r["event_id"], r["arm"], r["version_ref"], r["reward"]) for r in rows] == [
        ("new", "baseline", None, None), ("old", "champion", champion, 1.0)]
    assert rows[1]["rewarded_at"] == T0 + timedelta(seconds=5)
    assert [r["event_id"] for r in registry.recent_decisions(banner, limit=1)] == ["new"]
    with pytest.raises(ValueError, match="limit"):
        registry.recent_decisions(banner, limit=0)


def test_open_approvals_lists_only_open_requests(registry, people, banner):
    assert registry.open_approvals() == []
    first = evaluated(registry, people, banner, "ppo")
    second = evaluated(registry, people, banner, "linucb")
    registry.approve(people.bob, first, "ok")
    open_now = registry.open_approvals(banner)
    assert [(a.version_ref, a.requested_by, a.status) for a in open_now] == [(second, "alice", "open")]
    assert registry.open_approvals() == open_now


def test_decision_buckets_count_logged_default_rewards_as_expired(registry, people, banner):
    champion = live(registry, people, banner, "ppo")
    _log(registry, "a1", "champion", champion, T0, 1.0)
    _log(registry, "a2", "champion", champion, T0 + timedelta(minutes=1))
    assert registry.assign_default_rewards(now=T0 + timedelta(days=2)) == 1  # a2's window ended: default 0.0
    (row,) = registry.decision_buckets(banner, bucket_s=86_400, now=T0 + timedelta(days=2))
    assert (row["decisions"], row["rewarded"], row["expired"], row["pending"]) == (2, 1, 1, 0)
    assert row["mean_reward"] == pytest.approx(0.5)
