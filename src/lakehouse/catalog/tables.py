"""Table descriptions: facts from the Delta log joined with the catalog entry and quality."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from lakehouse.metadata.models import CatalogEntry, QualityResult, Run
from lakehouse.storage.delta import TableInfo


def iso(value: datetime | None) -> str | None:
    """ISO 8601 with an offset. SQLite hands back naive datetimes; everything we store is UTC."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def summary(info: TableInfo) -> dict[str, Any]:
    return {
        "table": info.table.fqn,
        "layer": info.table.layer,
        "name": info.table.name,
        "rows": info.rows,
        "size_bytes": info.size_bytes,
        "files": info.files,
        "version": info.version,
        "last_modified": iso(info.last_modified),
    }


def columns(schema: pa.Schema, entry: CatalogEntry | None) -> list[dict[str, Any]]:
    descriptions = (entry.column_descriptions if entry else None) or {}
    pii = set((entry.pii_columns if entry else None) or [])
    return [
        {
            "name": f.name,
            "type": str(f.type),
            "nullable": f.nullable,
            "description": descriptions.get(f.name),
            "tags": ["pii"] if f.name in pii else [],
        }
        for f in schema
    ]


def entry_dict(entry: CatalogEntry | None) -> dict[str, Any]:
    return {
        "owner": entry.owner if entry else None,
        "description": entry.description if entry else None,
        "tags": list(entry.tags or []) if entry else [],
        "retention_days": entry.retention_days if entry else None,
        "pii_columns": list(entry.pii_columns or []) if entry else [],
        "column_descriptions": dict(entry.column_descriptions or {}) if entry else {},
    }


def quality_dict(results: list[QualityResult]) -> dict[str, Any] | None:
    if not results:
        return None
    return {
        "status": "passing" if all(r.passed for r in results) else "failing",
        "checks": [
            {"check": r.check_name, "passed": r.passed, "failing_rows": r.failing_rows,
             "run_id": r.run_id, "at": iso(r.at)}
            for r in results
        ],
    }


def describe(info: TableInfo, entry: CatalogEntry | None, quality: list[QualityResult]) -> dict[str, Any]:
    return {
        **summary(info),
        "partition_columns": info.partition_columns,
        "columns": columns(info.schema, entry),
        **entry_dict(entry),
        "quality": quality_dict(quality),
    }


def run_dict(run: Run) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "job": run.job,
        "status": run.status,
        "started_at": iso(run.started_at),
        "ended_at": iso(run.ended_at),
        "duration_s": run.duration_s,
        "error": run.error,
        "tables": run.tables,
        "details": run.details,
    }
