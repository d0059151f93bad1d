"""Kafka -> bronze, exactly once: a consumer-group member that keeps its offsets in Delta.

On every assignment the consumer seeks each partition to the offset its bronze table
recorded (Kafka's committed offsets are ignored; they are written after each Delta commit
only for lag tooling). Messages are buffered per source and committed when a source's
buffer is old (`batch_max_seconds`) or the buffers together are full
(`batch_max_messages`: the largest one goes). Without `follow` the run ends once every
assigned partition reached the high watermark it had when the run started.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from lakehouse.config import SOURCES, Settings
from lakehouse.ingest.files import new_connection
from lakehouse.ingest.kafka.client import (
    cluster_metadata,
    ensure_topics,
    topic_partitions,
)
from lakehouse.ingest.kafka.session import Session
from lakehouse.reports import RunReport
from lakehouse.storage.delta import DeltaStore

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # (source, messages done, messages known so far)


class KafkaIngestor:
    def __init__(self, settings: Settings, store: DeltaStore) -> None:
        self.settings = settings
        self.store = store
        self._stop = False

    def stop(self) -> None:
        """Ask a running `run` to commit what it holds and return (thread- and signal-safe)."""
        self._stop = True

    @property
    def stopping(self) -> bool:
        return self._stop

    def run(
        self,
        sources: list[str] | None = None,
        progress: Progress | None = None,
        follow: bool = False,
    ) -> RunReport:
        self._stop = False
        report = RunReport(job="ingest")
        report.details.update(
            mode="kafka",
            bootstrap=self.settings.kafka.bootstrap,
            group_id=self.settings.kafka.group_id,
            follow=follow,
        )
        sources = list(sources or SOURCES)
        topics = {self.settings.kafka.topic(s): s for s in sources}
        if follow:  # a long-running consumer may start before its producers: create the topics
            parts = ensure_topics(self.settings, topics)
        else:
            parts = topic_partitions(cluster_metadata(self.settings), topics)
        con = new_connection(self.settings)
        session = Session(self, report, topics, parts, con, progress, follow)
        try:
            with _stop_on_signals(self.stop):
                session.consume()
        except BaseException as exc:
            report.finish("failed", str(exc))
            raise
        finally:
            session.close()
            con.close()
        for s in sources:
            report.details.setdefault("sources", {})[s] = session.summary(s)
        totals = report.details["sources"].values()
        for k in ("received", "bronze", "quarantined"):
            report.details[k] = sum(c[k] for c in totals)
        report.details["balanced"] = all(c["balanced"] for c in totals)
        report.details["lost_races"] = session.lost_races
        report.details["stopped_by_signal"] = self._stop
        return report.finish()


@contextmanager
def _stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """SIGINT/SIGTERM: finish the batch in hand, commit it, and return (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.warning("%s: committing the batch in hand, then stopping", signal.Signals(signum).name)
        stop()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
