"""The ingest report is typed (`IngestResult`); the logs, `--json` and the run history carry it whole."""

from __future__ import annotations

import json
import os
from dataclasses import fields

from lakehouse.results import IngestResult, JobResult, SkippedFile, SourceResult
from lakehouse.service import Lakehouse

from support import by_source, land

EVENT = {"event_id": "e1", "user_id": "u1", "event_type": "click", "timestamp": "2026-03-02T10:00:00Z"}


def test_a_files_run_reports_per_source_and_totals_in_every_output(lh: Lakehouse) -> None:
    land(lh.settings, "app_events", "a.ndjson", [EVENT, "not json"])
    fifo = lh.settings.landing / "clickstream" / "f.ndjson"
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo)  # skipped, never opened
    report = lh.ingest(sources=["app_events", "clickstream"])

    assert isinstance(report, IngestResult) and isinstance(report, JobResult)
    assert report.mode == "files" and report.landing == str(lh.settings.landing)
    assert [s.source for s in report.sources] == ["app_events", "clickstream"]
    events = report.source("app_events")
    assert isinstance(events, SourceResult)
    assert (events.files, events.received, events.bronze, events.quarantined) == (1, 2, 1, 1)
    assert events.balanced and events.error is None and events.skipped_files == []
    assert (report.received, report.bronze, report.quarantined, report.balanced) == (2, 1, 1, True)
    assert report.failed_sources == [] and report.status == "success"
    clicks = report.source("clickstream")
    assert clicks.skipped_files == [SkippedFile("clickstream/f.ndjson", "not a regular file (a FIFO): never opened")]
    assert clicks.received == 0 and clicks.files == 0

    # The logs directory holds exactly the report, as JSON.
    (log,) = lh.settings.logs_path.glob(f"ingest_*_{report.run_id}.json")
    written = json.loads(log.read_text())
    assert written == json.loads(json.dumps(report.to_dict()))
    assert by_source(written)["app_events"]["received"] == 2 and written["balanced"] is True
    # The run history stores the job's own fields (everything but the common ones).
    run = lh.catalog.run(report.run_id)
    assert run is not None and run["details"] == json.loads(json.dumps(report.details))
    common = {f.name for f in fields(JobResult)}
    assert set(run["details"]) == {f.name for f in fields(IngestResult)} - common
