"""The ingest job as the facade runs it: files or Kafka, its report finished either way.

`run` picks the ingestor, applies the per-run Kafka overrides, and hands the report to
`finish` (the facade writes it to the logs directory and records it in the metadata store).
A Kafka run holds SIGINT/SIGTERM from before it starts until its report is finished, so a
signal at any moment ends it with a report and exit code 0, not a process killed halfway.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from lakehouse.config import SOURCES, Settings
from lakehouse.exceptions import InputError, LakehouseError
from lakehouse.results import IngestResult
from lakehouse.storage.delta import DeltaStore

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
Finish = Callable[[IngestResult], IngestResult]


def run(
    settings: Settings,
    store: DeltaStore,
    *,
    source: str,
    sources: list[str] | None,
    progress: Progress | None,
    follow: bool,
    create_topics: bool | None,
    fail_on_data_loss: bool | None,
    stop: threading.Event | None,
    warm_up: Callable[[], None],
    finish: Finish,
) -> IngestResult:
    for s in sources or []:
        if s not in SOURCES:
            raise InputError(f"unknown source '{s}'", hint=f"choose from {', '.join(SOURCES)}")
    if source == "files":
        from lakehouse.ingest.files import FileIngestor

        warm_up()
        report = finish(FileIngestor(settings, store).run(sources, progress))
        if report.status == "failed":  # some sources failed; the others ran and are in the report
            raise LakehouseError(
                report.error or "ingest failed",
                hint=f"the other sources were ingested; the run report in {settings.logs_path} has the details",
            )
        return report
    if source != "kafka":
        raise InputError(f"unknown ingest source '{source}'", hint="use --source files or --source kafka")
    from lakehouse.ingest.kafka import KafkaIngestor

    asked = {"create_topics": create_topics, "fail_on_data_loss": fail_on_data_loss}
    kafka = settings.kafka.model_copy(update={k: v for k, v in asked.items() if v is not None})
    ingestor = KafkaIngestor(settings.model_copy(update={"kafka": kafka}), store)
    if stop is not None:  # another thread ends a --follow run (the scheduler's shutdown)
        _stop_when_set(stop, ingestor.stop)
    with ingestor.stop_on_signals():
        warm_up()
        try:
            report = ingestor.run(sources, progress=progress, follow=follow)
        except Exception:
            if ingestor.report is not None:  # a failed run is reported too (logs, runs)
                try:
                    finish(ingestor.report)
                except Exception:
                    log.warning("could not write the failed run's report", exc_info=True)
            raise
        return finish(report)


def _stop_when_set(event: threading.Event, stop: Callable[[], None]) -> None:
    def watch() -> None:
        event.wait()
        stop()

    threading.Thread(target=watch, name="lakehouse-ingest-stop", daemon=True).start()
