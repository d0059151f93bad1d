"""Alembic migrations for the metadata store; run programmatically by `MetadataStore.open`."""
