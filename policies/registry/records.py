"""Frozen, session-free records the repository returns (ORM objects never leave the repository)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def aware(value: datetime | None) -> datetime | None:
    """``value`` with UTC attached when the database returned it naive (SQLite)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class UserRecord:
    id: int
    username: str
    role: str
    active: bool
    created_at: datetime


@dataclass(frozen=True)
class TokenRecord:
    id: int
    username: str
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class DecisionPointRecord:
    id: int
    name: str
    kind: str
    action_space: Any
    baseline_action: Any
    reward_window_s: float
    default_reward: float
    approval_estimator: str | None
    approval_rule: str
    guardrail_bound: float
    guardrail_confidence: float
    guardrail_min_count: int
    killed: bool
    created_at: datetime


@dataclass(frozen=True)
class VersionRecord:
    """A policy version; ``ref`` (``policy:version``) names it in the CLI and in messages."""

    id: int
    ref: str
    policy: str
    version: int
    decision_point: str
    state: str
    artefact_uri: str
    artefact_sha256: str
    train_config: Any
    train_metrics: Any
    created_by: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ReportRecord:
    id: int
    decision_point: str
    version_ref: str | None
    kind: str
    against_ref: str | None
    report: Any
    markdown: str | None
    uris: list
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class ApprovalRecord:
    id: int
    version_ref: str
    requested_by: str
    request_comment: str | None
    requested_at: datetime
    status: str
    decided_by: str | None
    decision_comment: str | None
    decided_at: datetime | None


@dataclass(frozen=True)
class RolloutRecord:
    id: int
    decision_point: str
    challenger_ref: str
    champion_ref: str | None
    traffic_percent: float
    state: str
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None


@dataclass(frozen=True)
class TrafficSplit:
    """Where a decision point's traffic goes now.

    :param decision_point: its name.
    :param killed: the kill switch is on (then ``arms`` is only the baseline).
    :param arms: ``(arm, version_ref or None, percent)`` triples summing to 100; arm is ``champion``,
        ``challenger`` or ``baseline`` (the decision point's baseline action).
    """

    decision_point: str
    killed: bool
    arms: tuple[tuple[str, str | None, float], ...]


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str
    action: str
    entity_type: str
    entity_id: int | None
    entity_name: str
    from_state: str | None
    to_state: str | None
    reason: str | None
    details: Any = field(default=None)


@dataclass(frozen=True)
class GuardrailResult:
    """The outcome of :meth:`Registry.check_canary`.

    :param verdict: ``ok``, ``rolled_back``, ``insufficient_data`` or ``no_canary``.
    :param reason: in words (the same text is in the audit log when it rolled back).
    """

    decision_point: str
    verdict: str
    reason: str
    canary_ref: str | None = None
    reference_arm: str | None = None
    canary_mean: float | None = None
    canary_count: int | None = None
    canary_ucb: float | None = None
    reference_mean: float | None = None
    reference_count: int | None = None
    threshold: float | None = None
