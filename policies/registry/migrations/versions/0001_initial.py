"""Initial registry schema: users, tokens, decision points, policies, versions, reports, approvals, rollouts,
decision/reward logs and the append-only audit log (UPDATE/DELETE refused by triggers on SQLite and PostgreSQL).

Revision ID: 0001_initial
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the vocabularies at this revision (workflow.py holds the living ones).
ROLES = ("viewer", "requester", "approver", "admin")
VERSION_STATES = ("candidate", "evaluated", "approved", "canary", "live", "retired", "rejected", "rolled_back")
KINDS = ("ad_slot", "pricing", "inventory")
RULES = ("lower_bound_beats_estimate", "mean_and_lower_bound", "evaluation_only")
REQUEST_STATUSES = ("open", "approved", "rejected", "withdrawn")
ROLLOUT_STATES = ("canary", "promoted", "rolled_back", "rejected")
ARMS = ("champion", "challenger", "baseline")
REPORT_KINDS = ("version", "baseline")

APPEND_ONLY_MESSAGE = "audit_log is append-only"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(JSONB(), "postgresql")


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        _ts("created_at"),
        sa.CheckConstraint(_in("role", ROLES), name="ck_users_role"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        _ts("created_at"),
        _ts("revoked_at", nullable=True),
    )
    op.create_table(
        "decision_points",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("action_space", _json(), nullable=False),
        sa.Column("baseline_action", _json(), nullable=False),
        sa.Column("reward_window_s", sa.Float, nullable=False),
        sa.Column("default_reward", sa.Float, nullable=False),
        sa.Column("approval_estimator", sa.String(64), nullable=True),
        sa.Column("approval_rule", sa.String(32), nullable=False),
        sa.Column("guardrail_bound", sa.Float, nullable=False),
        sa.Column("guardrail_confidence", sa.Float, nullable=False),
        sa.Column("guardrail_min_count", sa.Integer, nullable=False),
        sa.Column("killed", sa.Boolean, nullable=False),
        _ts("created_at"),
        sa.CheckConstraint(_in("kind", KINDS), name="ck_decision_points_kind"),
        sa.CheckConstraint(_in("approval_rule", RULES), name="ck_decision_points_rule"),
        sa.CheckConstraint("reward_window_s > 0", name="ck_decision_points_window"),
        sa.CheckConstraint("guardrail_bound >= 0", name="ck_decision_points_bound"),
        sa.CheckConstraint("guardrail_confidence > 0 AND guardrail_confidence < 1",
                           name="ck_decision_points_confidence"),
        sa.CheckConstraint("guardrail_min_count >= 2", name="ck_decision_points_min_count"),
    )
    op.create_table(
        "policies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("decision_point_id", sa.Integer, sa.ForeignKey("decision_points.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=True),
        _ts("created_at"),
    )
    op.create_table(
        "policy_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("policy_id", sa.Integer, sa.ForeignKey("policies.id"), nullable=False),
        sa.Column("decision_point_id", sa.Integer, sa.ForeignKey("decision_points.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("artefact_uri", sa.Text, nullable=False),
        sa.Column("artefact_sha256", sa.String(64), nullable=False),
        sa.Column("train_config", _json(), nullable=False),
        sa.Column("train_metrics", _json(), nullable=False),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        _ts("created_at"),
        sa.Column("state", sa.String(16), nullable=False),
        _ts("updated_at"),
        sa.UniqueConstraint("policy_id", "version", name="uq_policy_versions_policy_version"),
        sa.CheckConstraint(_in("state", VERSION_STATES), name="ck_policy_versions_state"),
        sa.CheckConstraint("version >= 1", name="ck_policy_versions_version"),
    )
    op.create_index("uq_policy_versions_one_live", "policy_versions", ["decision_point_id"], unique=True,
                    sqlite_where=sa.text("state = 'live'"), postgresql_where=sa.text("state = 'live'"))
    op.create_index("uq_policy_versions_one_canary", "policy_versions", ["decision_point_id"], unique=True,
                    sqlite_where=sa.text("state = 'canary'"), postgresql_where=sa.text("state = 'canary'"))
    op.create_table(
        "evaluation_reports",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("decision_point_id", sa.Integer, sa.ForeignKey("decision_points.id"), nullable=False),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("policy_versions.id"), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("against_version_id", sa.Integer, sa.ForeignKey("policy_versions.id"), nullable=True),
        sa.Column("report", _json(), nullable=False),
        sa.Column("markdown", sa.Text, nullable=True),
        sa.Column("uris", _json(), nullable=False),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        _ts("created_at"),
        sa.CheckConstraint(_in("kind", REPORT_KINDS), name="ck_evaluation_reports_kind"),
        sa.CheckConstraint("(kind = 'version') = (version_id IS NOT NULL)", name="ck_evaluation_reports_version"),
    )
    op.create_table(
        "approval_requests",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("policy_versions.id"), nullable=False),
        sa.Column("requested_by", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("request_comment", sa.Text, nullable=True),
        _ts("requested_at"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("decision_comment", sa.Text, nullable=True),
        _ts("decided_at", nullable=True),
        sa.CheckConstraint(_in("status", REQUEST_STATUSES), name="ck_approval_requests_status"),
        sa.CheckConstraint("decided_by IS NULL OR decided_by <> requested_by", name="ck_approval_requests_four_eyes"),
    )
    op.create_index("uq_approval_requests_one_open", "approval_requests", ["version_id"], unique=True,
                    sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))
    op.create_table(
        "rollouts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("decision_point_id", sa.Integer, sa.ForeignKey("decision_points.id"), nullable=False),
        sa.Column("challenger_version_id", sa.Integer, sa.ForeignKey("policy_versions.id"), nullable=False),
        sa.Column("champion_version_id", sa.Integer, sa.ForeignKey("policy_versions.id"), nullable=True),
        sa.Column("traffic_percent", sa.Float, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("started_by", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        _ts("started_at"),
        _ts("ended_at", nullable=True),
        sa.Column("end_reason", sa.Text, nullable=True),
        sa.CheckConstraint(_in("state", ROLLOUT_STATES), name="ck_rollouts_state"),
        sa.CheckConstraint("traffic_percent > 0 AND traffic_percent <= 100", name="ck_rollouts_traffic"),
    )
    op.create_index("uq_rollouts_one_canary", "rollouts", ["decision_point_id"], unique=True,
                    sqlite_where=sa.text("state = 'canary'"), postgresql_where=sa.text("state = 'canary'"))
    op.create_table(
        "decision_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("decision_point_id", sa.Integer, sa.ForeignKey("decision_points.id"), nullable=False),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("policy_versions.id"), nullable=True),
        sa.Column("arm", sa.String(16), nullable=False),
        sa.Column("action", _json(), nullable=False),
        sa.Column("propensity", sa.Float, nullable=True),
        sa.Column("context", _json(), nullable=True),
        _ts("created_at"),
        sa.CheckConstraint(_in("arm", ARMS), name="ck_decision_log_arm"),
        sa.CheckConstraint("propensity IS NULL OR (propensity > 0 AND propensity <= 1)",
                           name="ck_decision_log_propensity"),
    )
    op.create_index("ix_decision_log_decision_point_id", "decision_log", ["decision_point_id"])
    op.create_index("ix_decision_log_created_at", "decision_log", ["created_at"])
    op.create_table(
        "reward_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.String(64), sa.ForeignKey("decision_log.event_id"), nullable=False, unique=True),
        sa.Column("reward", sa.Float, nullable=False),
        _ts("created_at"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        _ts("at"),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("entity_type", sa.String(32), nullable=False),
        sa.Column("entity_id", sa.Integer, nullable=True),
        sa.Column("entity_name", sa.String(200), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("details", _json(), nullable=True),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                       f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}: {verb} refused'); END")
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}: % refused', TG_OP USING ERRCODE = 'insufficient_privilege'; "
            "END $$")
        op.execute("CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log "
                   "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()")
        op.execute("CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
                   "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()")
    else:  # pragma: no cover - make_engine accepts only these two
        raise RuntimeError(f"the registry supports SQLite and PostgreSQL, not {dialect}")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update_delete ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    elif dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    for table in ("audit_log", "reward_log", "decision_log", "rollouts", "approval_requests",
                  "evaluation_reports", "policy_versions", "policies", "decision_points", "api_tokens", "users"):
        op.drop_table(table)
