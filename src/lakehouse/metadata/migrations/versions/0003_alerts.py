"""Monitoring: alert state and deliveries, table size samples; indexes the health report seeks by.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    # One row per alert (a problem, by fingerprint): firing until it resolves, then kept as resolved.
    op.create_table(
        "alert_state",
        sa.Column("fingerprint", sa.String(32), primary_key=True),
        sa.Column("alertname", sa.String(64), nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("annotations", sa.JSON, nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),  # firing | resolved
        sa.Column("starts_at", TZ, nullable=False),
        sa.Column("ends_at", TZ),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_index("ix_alert_state_status", "alert_state", ["status"])
    # What each notifier was last told about each alert, so a restart neither repeats nor loses one.
    op.create_table(
        "alert_deliveries",
        sa.Column("fingerprint", sa.String(32), primary_key=True),
        sa.Column("notifier", sa.String(256), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),  # the status last delivered
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("sent_at", TZ, nullable=False),
    )
    op.create_table(
        "table_size_samples",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("table_fqn", sa.String(128), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("files", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_table_size_samples_table_at", "table_size_samples", ["table_fqn", "at"])
    op.create_index("ix_table_size_samples_at", "table_size_samples", ["at"])
    # The report seeks the latest run of each job (and its latest success) and the latest result
    # of each check: index seeks, whatever the number of runs and results kept.
    op.create_index("ix_runs_job_status_started", "runs", ["job", "status", "started_at"])
    op.create_index("ix_runs_job_started", "runs", ["job", "started_at"])
    op.create_index("ix_quality_results_table_check_id", "quality_results", ["table_fqn", "check_name", "id"])


def downgrade() -> None:
    op.drop_index("ix_quality_results_table_check_id", "quality_results")
    op.drop_index("ix_runs_job_started", "runs")
    op.drop_index("ix_runs_job_status_started", "runs")
    op.drop_table("table_size_samples")
    op.drop_table("alert_deliveries")
    op.drop_index("ix_alert_state_status", "alert_state")
    op.drop_table("alert_state")
