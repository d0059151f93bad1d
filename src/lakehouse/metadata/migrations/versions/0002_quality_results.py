"""Quality results per run and check: outcome, metric, threshold, rows checked, sample, version.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("quality_results") as batch:
        batch.add_column(sa.Column("kind", sa.String(32), nullable=False, server_default=""))
        batch.add_column(sa.Column("action", sa.String(8), nullable=False, server_default="warn"))
        batch.add_column(sa.Column("outcome", sa.String(8), nullable=False, server_default="pass"))
        batch.add_column(sa.Column("rows_checked", sa.BigInteger, nullable=False, server_default="0"))
        batch.add_column(sa.Column("metric", sa.Float))
        batch.add_column(sa.Column("threshold", sa.String(128)))
        batch.add_column(sa.Column("sample", sa.JSON))
        batch.add_column(sa.Column("error", sa.Text))
        batch.add_column(sa.Column("table_version", sa.BigInteger))
        batch.add_column(sa.Column("seconds", sa.Float, nullable=False, server_default="0"))
        batch.create_index("ix_quality_results_table_at", ["table_fqn", "at"])
        batch.create_index("ix_quality_results_run_id", ["run_id"])


def downgrade() -> None:
    with op.batch_alter_table("quality_results") as batch:
        batch.drop_index("ix_quality_results_run_id")
        batch.drop_index("ix_quality_results_table_at")
        for name in ("seconds", "table_version", "error", "sample", "threshold", "metric", "rows_checked",
                     "outcome", "action", "kind"):
            batch.drop_column(name)
