"""OpenLineage run events for every job: START, then COMPLETE or FAIL.

Each event names the job's input and output datasets (`layer.table` in the lake's
namespace) with schema, column-lineage and Delta version facets. Events go to
`<logs>/openlineage.ndjson` (one JSON event per line) and, when `openlineage_url` is set,
to that HTTP endpoint (Marquez, DataHub, ...) instead.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    dataset_version_dataset,
    error_message_run,
    schema_dataset,
)
from openlineage.client.transport.file import FileConfig, FileTransport
from openlineage.client.transport.http import HttpConfig, HttpTransport

from lakehouse.catalog.lineage import ModelLineage
from lakehouse.results import JobResult

log = logging.getLogger(__name__)

PRODUCER = "https://github.com/lakehouse/lakehouse"
JOB_NAMESPACE = "lakehouse"

Facts = Callable[[str], tuple[list[tuple[str, str]], int | None] | None]  # fqn -> (columns, version)


def make_client(logs_path: Path, url: str | None) -> OpenLineageClient:
    if url:
        return OpenLineageClient(transport=HttpTransport(HttpConfig(url=url)))
    logs_path.mkdir(parents=True, exist_ok=True)
    path = logs_path / "openlineage.ndjson"
    return OpenLineageClient(transport=FileTransport(FileConfig(log_file_path=str(path), append=True)))


def run_uuid(run_id: str) -> str:
    """OpenLineage wants a UUID; derive a stable one from our run id."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"lakehouse-run:{run_id}"))


def _time(value: str | None) -> str:
    return value or datetime.now(UTC).isoformat()


def build_events(
    report: JobResult, namespace: str, lineage: dict[str, ModelLineage], facts: Facts
) -> list[RunEvent]:
    outputs_fqn = [c.table for c in report.tables]
    inputs_fqn = sorted({u for o in outputs_fqn if o in lineage for u in lineage[o].upstream} - set(outputs_fqn))

    def facets_for(fqn: str, version: int | None, with_lineage: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        known = facts(fqn)
        if known:
            cols, current = known
            out["schema"] = schema_dataset.SchemaDatasetFacet(
                fields=[schema_dataset.SchemaDatasetFacetFields(name=n, type=t) for n, t in cols]
            )
            version = version if version is not None else current
        if version is not None:
            out["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=str(version))
        model = lineage.get(fqn)
        if with_lineage and model and model.columns:
            fields: dict[str, column_lineage_dataset.Fields] = {}
            for e in model.columns:
                fields.setdefault(e.target_column, column_lineage_dataset.Fields(inputFields=[]))
                fields[e.target_column].inputFields.append(
                    column_lineage_dataset.InputField(namespace=namespace, name=e.source, field=e.source_column)
                )
            out["columnLineage"] = column_lineage_dataset.ColumnLineageDatasetFacet(fields=fields)
        return out

    inputs = [InputDataset(namespace=namespace, name=n, facets=facets_for(n, None, False)) for n in inputs_fqn]
    job = Job(namespace=JOB_NAMESPACE, name=report.job)
    rid = run_uuid(report.run_id)
    start = RunEvent(
        eventType=RunState.START, eventTime=_time(report.started_at), run=Run(runId=rid), job=job,
        producer=PRODUCER, inputs=inputs,
        outputs=[OutputDataset(namespace=namespace, name=c.table, facets=facets_for(c.table, c.version_before, False)) for c in report.tables],
    )
    if report.status == "running":
        return [start]
    failed = report.status != "success"
    run_facets: dict[str, Any] = {}
    if failed:
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=report.error or report.status, programmingLanguage="python"
        )
    end = RunEvent(
        eventType=RunState.FAIL if failed else RunState.COMPLETE, eventTime=_time(report.ended_at),
        run=Run(runId=rid, facets=run_facets), job=job, producer=PRODUCER, inputs=inputs,
        outputs=[OutputDataset(namespace=namespace, name=c.table, facets=facets_for(c.table, c.version_after, True)) for c in report.tables],
    )
    return [start, end]
