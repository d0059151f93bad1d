"""Initial metadata schema: catalog, lineage, runs, quality results, API keys, audit.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "catalog_entries",
        sa.Column("table_fqn", sa.String(128), primary_key=True),
        sa.Column("owner", sa.String(128)),
        sa.Column("description", sa.Text),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("retention_days", sa.Integer),
        sa.Column("pii_columns", sa.JSON, nullable=False),
        sa.Column("column_descriptions", sa.JSON, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "lineage_edges",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source_table", sa.String(128), nullable=False, index=True),
        sa.Column("source_column", sa.String(128)),
        sa.Column("target_table", sa.String(128), nullable=False, index=True),
        sa.Column("target_column", sa.String(128)),
    )
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("job", sa.String(64), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", TZ, nullable=False, index=True),
        sa.Column("ended_at", TZ),
        sa.Column("duration_s", sa.Float, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("tables", sa.JSON, nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
    )
    op.create_table(
        "quality_results",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("table_fqn", sa.String(128), nullable=False, index=True),
        sa.Column("check_name", sa.String(128), nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("failing_rows", sa.BigInteger, nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("at", TZ, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("revoked_at", TZ),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("at", TZ, nullable=False, index=True),
        sa.Column("who", sa.String(128), nullable=False, index=True),
        sa.Column("role", sa.String(16)),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("endpoint", sa.String(256), nullable=False),
        sa.Column("tables", sa.JSON, nullable=False),
        sa.Column("query", sa.Text),
        sa.Column("rows", sa.BigInteger),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("status", sa.Integer, nullable=False, index=True),
    )


def downgrade() -> None:
    for name in ("audit", "api_keys", "quality_results", "runs", "lineage_edges", "catalog_entries"):
        op.drop_table(name)
