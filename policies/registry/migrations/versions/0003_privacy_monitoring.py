"""What running a live policy responsibly needs: retention and personal features per decision point, a drift
threshold, and each version's profile of its training log's context features.

* ``decision_points.retention_days`` (decision and reward rows older than this are swept; NULL: the global
  default) and ``decision_points.personal_features`` (the context features the decision point declares
  personal, dropped or hashed before storage; NULL or empty: none);
* ``decision_points.drift_threshold`` (the population-stability index above which a feature's drift alerts;
  NULL: the global default);
* ``policy_versions.feature_profile`` (per context feature, the training log's bin edges and shares that live
  traffic is compared with; NULL: none recorded).

Revision ID: 0003_privacy_monitoring
Revises: 0002_service_support
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003_privacy_monitoring"
down_revision = "0002_service_support"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("decision_points") as batch:
        batch.add_column(sa.Column("retention_days", sa.Float, nullable=True))
        batch.add_column(sa.Column("personal_features", _JSON, nullable=True))
        batch.add_column(sa.Column("drift_threshold", sa.Float, nullable=True))
        batch.create_check_constraint("ck_decision_points_retention_days",
                                      "retention_days IS NULL OR retention_days > 0")
    with op.batch_alter_table("policy_versions") as batch:
        batch.add_column(sa.Column("feature_profile", _JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("policy_versions") as batch:
        batch.drop_column("feature_profile")
    with op.batch_alter_table("decision_points") as batch:
        batch.drop_constraint("ck_decision_points_retention_days", type_="check")
        batch.drop_column("drift_threshold")
        batch.drop_column("personal_features")
        batch.drop_column("retention_days")
