"""The metadata store: what the Delta log cannot hold (catalog entries, lineage edges, runs,
quality results, API keys, the audit trail), in SQLite or PostgreSQL through SQLAlchemy + Alembic."""

from lakehouse.metadata.store import AuditFilter, MetadataStore

__all__ = ["AuditFilter", "MetadataStore"]
