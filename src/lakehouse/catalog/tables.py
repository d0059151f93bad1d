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


def quality_status(results: list[QualityResult]) -> str:
    """failing (a check failed or could not run), warning, or passing."""
    outcomes = {r.outcome or ("pass" if r.passed else "warn") for r in results}
    if outcomes & {"fail", "error"}:
        return "failing"
    return "warning" if "warn" in outcomes else "passing"


def quality_score(results: list[QualityResult]) -> float:
    """0-100: a passing check counts 1, a warning half, a failure or an error nothing."""
    if not results:
        return 100.0
    weight = {"pass": 1.0, "warn": 0.5}
    return round(100 * sum(weight.get(r.outcome or ("pass" if r.passed else "warn"), 0.0) for r in results) / len(results), 1)


def check_dict(r: QualityResult, sample: bool = True) -> dict[str, Any]:
    return {
        "check": r.check_name, "kind": r.kind, "action": r.action, "outcome": r.outcome,
        "passed": r.passed, "failing_rows": r.failing_rows, "rows_checked": r.rows_checked,
        "metric": r.metric, "threshold": r.threshold, "error": r.error, "table_version": r.table_version,
        "run_id": r.run_id, "at": iso(r.at), "seconds": r.seconds,
        **({"sample": r.sample or []} if sample else {}),
    }


def quality_dict(results: list[QualityResult], sample: bool = True) -> dict[str, Any] | None:
    """A table's latest verdict: status, score, and every check of the run that checked it last."""
    if not results:
        return None
    return {
        "status": quality_status(results),
        "score": quality_score(results),
        "run_id": results[0].run_id,
        "at": iso(max(r.at for r in results)),
        "checks": [check_dict(r, sample) for r in results],
    }


def describe(info: TableInfo, entry: CatalogEntry | None, quality: list[QualityResult]) -> dict[str, Any]:
    return {
        **summary(info),
        "partition_columns": info.partition_columns,
        "columns": columns(info.schema, entry),
        **entry_dict(entry),
        "quality": quality_dict(quality, sample=False),
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
