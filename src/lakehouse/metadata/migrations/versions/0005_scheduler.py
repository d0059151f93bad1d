"""Scheduler: leases (one scheduler, one run of a job at a time), job state and run history.

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "scheduler_leases",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("holder", sa.String(200)),
        sa.Column("token", sa.BigInteger, nullable=False),
        # Epoch seconds on the metadata store's own clock, so hosts whose clocks differ agree.
        sa.Column("acquired_at", sa.Float),
        sa.Column("renewed_at", sa.Float),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("state", sa.String(16)),
    )
    op.create_table(
        "schedule_jobs",
        sa.Column("job", sa.String(64), primary_key=True),
        sa.Column("cron", sa.String(128), nullable=False),
        sa.Column("last_slot", TZ),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "schedule_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("job", sa.String(64), nullable=False),
        sa.Column("slot", TZ),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("ended_at", TZ),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("missed", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("run_ids", sa.JSON, nullable=False),
        sa.Column("holder", sa.String(200)),
        sa.Column("token", sa.BigInteger),
    )
    op.create_index("ix_schedule_runs_job_id", "schedule_runs", ["job", "id"])
    op.create_index("ix_schedule_runs_status", "schedule_runs", ["status"])


def downgrade() -> None:
    op.drop_index("ix_schedule_runs_status", "schedule_runs")
    op.drop_index("ix_schedule_runs_job_id", "schedule_runs")
    for name in ("schedule_runs", "schedule_jobs", "scheduler_leases"):
        op.drop_table(name)
