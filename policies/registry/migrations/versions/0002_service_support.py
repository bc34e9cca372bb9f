"""What the decision API needs from the decision and reward logs: deferred activation and explicit default rewards.

* ``decision_log.deferred`` (a decision computed but perhaps never shown; it waits for activation) and
  ``decision_log.activated_at`` (when a deferred decision was activated; its reward window starts then);
* ``reward_log.slot`` (the slot a reward is for, when the client names one) and ``reward_log.is_default``
  (the decision point's default reward, logged when a decision's reward window passed without a reward).

Revision ID: 0002_service_support
Revises: 0001_initial
Create Date: 2025-02-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_service_support"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("decision_log") as batch:
        batch.add_column(sa.Column("deferred", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("reward_log") as batch:
        batch.add_column(sa.Column("slot", sa.Integer, nullable=True))
        batch.add_column(sa.Column("is_default", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.create_check_constraint("ck_reward_log_slot", "slot IS NULL OR slot >= 0")


def downgrade() -> None:
    with op.batch_alter_table("reward_log") as batch:
        batch.drop_constraint("ck_reward_log_slot", type_="check")
        batch.drop_column("is_default")
        batch.drop_column("slot")
    with op.batch_alter_table("decision_log") as batch:
        batch.drop_column("activated_at")
        batch.drop_column("deferred")
