"""Catalog entries seeded on first open, from the table contract (`lakehouse.contract`).

Edits made later through `PATCH /catalog/{table}` win: seeding only adds missing tables.
"""

from __future__ import annotations

from lakehouse.contract import REGISTRY
from lakehouse.metadata.models import CatalogEntry


def default_entries() -> list[CatalogEntry]:
    out = []
    for spec in REGISTRY:
        pii = spec.pii_columns
        out.append(
            CatalogEntry(
                table_fqn=spec.fqn,
                owner=spec.owner,
                description=spec.description,
                tags=[spec.layer, *spec.tags, *(["pii"] if pii else [])],
                retention_days=spec.retention_days,
                pii_columns=pii,
                column_descriptions={c.name: c.description for c in spec.columns},
            )
        )
    return out
