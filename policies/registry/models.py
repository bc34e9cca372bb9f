"""The registry's tables as SQLAlchemy 2 models (the migrations in ``migrations/versions`` create them).

Only :mod:`policies.registry.repository` uses these classes with a session; other code gets the frozen
records of :mod:`policies.registry.records`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JsonType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    """Now, in UTC (timezone-aware)."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JsonType, list[Any]: JsonType, Any: JsonType}


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DecisionPoint(Base):
    __tablename__ = "decision_points"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    action_space: Mapped[Any] = mapped_column(JsonType)
    baseline_action: Mapped[Any] = mapped_column(JsonType)
    reward_window_s: Mapped[float] = mapped_column(Float)
    default_reward: Mapped[float] = mapped_column(Float)
    approval_estimator: Mapped[str | None] = mapped_column(String(64))
    approval_rule: Mapped[str] = mapped_column(String(32))
    guardrail_bound: Mapped[float] = mapped_column(Float)
    guardrail_confidence: Mapped[float] = mapped_column(Float)
    guardrail_min_count: Mapped[int] = mapped_column(Integer)
    killed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    retention_days: Mapped[float | None] = mapped_column(Float)
    personal_features: Mapped[Any] = mapped_column(JsonType, nullable=True)
    drift_threshold: Mapped[float | None] = mapped_column(Float)


class Policy(Base):
    __tablename__ = "policies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    decision_point_id: Mapped[int] = mapped_column(ForeignKey("decision_points.id"))
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PolicyVersion(Base):
    __tablename__ = "policy_versions"
    __table_args__ = (
        UniqueConstraint("policy_id", "version", name="uq_policy_versions_policy_version"),
        Index("uq_policy_versions_one_live", "decision_point_id", unique=True,
              sqlite_where="state = 'live'", postgresql_where="state = 'live'"),
        Index("uq_policy_versions_one_canary", "decision_point_id", unique=True,
              sqlite_where="state = 'canary'", postgresql_where="state = 'canary'"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"))
    decision_point_id: Mapped[int] = mapped_column(ForeignKey("decision_points.id"))
    version: Mapped[int] = mapped_column(Integer)
    artefact_uri: Mapped[str] = mapped_column(Text)
    artefact_sha256: Mapped[str] = mapped_column(String(64))
    train_config: Mapped[Any] = mapped_column(JsonType)
    train_metrics: Mapped[Any] = mapped_column(JsonType)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    state: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    feature_profile: Mapped[Any] = mapped_column(JsonType, nullable=True)


class EvaluationReport(Base):
    __tablename__ = "evaluation_reports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    decision_point_id: Mapped[int] = mapped_column(ForeignKey("decision_points.id"))
    version_id: Mapped[int | None] = mapped_column(ForeignKey("policy_versions.id"))
    kind: Mapped[str] = mapped_column(String(16))
    against_version_id: Mapped[int | None] = mapped_column(ForeignKey("policy_versions.id"))
    report: Mapped[Any] = mapped_column(JsonType)
    markdown: Mapped[str | None] = mapped_column(Text)
    uris: Mapped[Any] = mapped_column(JsonType)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApprovalRequest(Base):
    __tablename__ = "approval_requests"
    __table_args__ = (
        Index("uq_approval_requests_one_open", "version_id", unique=True,
              sqlite_where="status = 'open'", postgresql_where="status = 'open'"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("policy_versions.id"))
    requested_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    request_comment: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decision_comment: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Rollout(Base):
    __tablename__ = "rollouts"
    __table_args__ = (
        Index("uq_rollouts_one_canary", "decision_point_id", unique=True,
              sqlite_where="state = 'canary'", postgresql_where="state = 'canary'"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    decision_point_id: Mapped[int] = mapped_column(ForeignKey("decision_points.id"))
    challenger_version_id: Mapped[int] = mapped_column(ForeignKey("policy_versions.id"))
    champion_version_id: Mapped[int | None] = mapped_column(ForeignKey("policy_versions.id"))
    traffic_percent: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16))
    started_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_reason: Mapped[str | None] = mapped_column(Text)


class DecisionLog(Base):
    __tablename__ = "decision_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    decision_point_id: Mapped[int] = mapped_column(ForeignKey("decision_points.id"), index=True)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("policy_versions.id"))
    arm: Mapped[str] = mapped_column(String(16))
    action: Mapped[Any] = mapped_column(JsonType)
    propensity: Mapped[float | None] = mapped_column(Float)
    context: Mapped[Any] = mapped_column(JsonType, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    deferred: Mapped[bool] = mapped_column(Boolean, default=False)  # 0002: waits for activation
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # 0002


class RewardLog(Base):
    __tablename__ = "reward_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("decision_log.event_id"), unique=True)
    reward: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    slot: Mapped[int | None] = mapped_column(Integer)  # 0002
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)  # 0002: the decision point's default reward


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int | None] = mapped_column(Integer)
    entity_name: Mapped[str] = mapped_column(String(200))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[Any] = mapped_column(JsonType, nullable=True)
