"""Kafka -> bronze, exactly once: a consumer-group member that keeps its offsets in Delta.

`KafkaIngestor.run` finds the requested topics (`topics.py`), then a `Session` (session.py)
consumes them: on every assignment it checks and seeks each partition to the offset its
bronze table recorded (Kafka's committed offsets are ignored; they are written after each
Delta commit only for lag tooling), buffers messages per source and commits them.

A stop request (`stop()`, SIGINT, SIGTERM) is honoured at any moment of the run: waits on
the broker are cut into short slices, the batch in hand is committed, the group is left and
the run returns its report. Without `follow` an unreachable broker is an error after 10 s;
with `follow` the ingestor keeps retrying, backing off up to 30 s, until the broker answers
or it is stopped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_exponential

from lakehouse.config import SOURCES, Settings
from lakehouse.exceptions import BrokerUnavailableError
from lakehouse.ingest.files import new_connection
from lakehouse.ingest.kafka.client import (
    AdminClient,
    ClusterMetadata,
    StopRequested,
    admin,
    cluster_metadata,
    ensure_topics,
)
from lakehouse.ingest.kafka.offsets import DataLossError
from lakehouse.ingest.kafka.session import Session
from lakehouse.ingest.kafka.signals import StopFlag
from lakehouse.ingest.kafka.topics import Topics, require_some, resolve
from lakehouse.results import IngestResult, SourceResult
from lakehouse.storage.delta import DeltaStore

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # (source, messages done, messages known so far)

BACKOFF_FIRST_S = 1.0  # --follow, broker unreachable: first pause between attempts
BACKOFF_MAX_S = 30.0


class KafkaIngestor:
    def __init__(self, settings: Settings, store: DeltaStore) -> None:
        self.settings = settings
        self.store = store
        self.flag = StopFlag()
        self.report: IngestResult | None = None  # the last run's, also when it failed

    def stop(self) -> None:
        """Ask `run` to commit what it holds and return (thread- and signal-safe).

        Asked before `run`, the run returns at once with an empty report.
        """
        self.flag.stop()

    @property
    def stopping(self) -> bool:
        return self.flag()

    def stop_on_signals(self) -> AbstractContextManager[None]:
        """SIGINT/SIGTERM -> `stop()` while inside (main thread; `run` installs it too).

        Callers that do more than `run` (write the report, record the run) hold it around
        all of it, so a signal during that work stops the run instead of killing the process.
        """
        return self.flag.installed()

    def run(
        self,
        sources: list[str] | None = None,
        progress: Progress | None = None,
        follow: bool = False,
    ) -> IngestResult:
        kafka = self.settings.kafka
        sources = list(dict.fromkeys(sources or SOURCES))
        report = self.report = IngestResult(
            mode="kafka",
            bootstrap=kafka.bootstrap,
            group_id=kafka.group_id,
            follow=follow,
            fail_on_data_loss=kafka.fail_on_data_loss,
            sources=[SourceResult(source=s, topic=kafka.topic(s)) for s in sources],
        )
        topics = Topics({kafka.topic(s): s for s in sources})
        session: Session | None = None
        try:
            with self.stop_on_signals():
                log.info(
                    "run %s: ingest from Kafka at %s as group %s (follow: %s)",
                    report.run_id, kafka.bootstrap, kafka.group_id, follow,
                )  # fmt: skip
                try:
                    client = admin(self.settings)
                    md = self._metadata(client, follow, report)
                    self._topics(md, topics)
                    require_some(topics, md, self.settings)
                    con = new_connection(self.settings)
                    try:
                        session = Session(
                            self.settings,
                            self.store,
                            self.flag,
                            report,
                            topics,
                            client,
                            con,
                            progress,
                            follow,
                        )
                        try:
                            session.consume()
                        finally:
                            session.close()
                    finally:
                        con.close()
                except StopRequested:
                    pass  # a wait on the broker was cut short: the report says so
        except BaseException as exc:
            if isinstance(exc, DataLossError):
                report.data_loss = [s.to_result() for s in exc.skips]
            self._summarise(report, topics, session)
            report.finish("failed", str(exc))
            raise
        self._summarise(report, topics, session)
        return report.finish()

    # -- before consuming --------------------------------------------------------------------------
    def _topics(self, md: ClusterMetadata, topics: Topics) -> None:
        """Fill `topics` as the broker has them; missing ones are created only if asked."""
        found = resolve(md, topics.wanted)
        topics.parts, topics.missing, topics.known = found.parts, found.missing, True
        if topics.missing and self.settings.kafka.create_topics:
            try:
                topics.parts = ensure_topics(self.settings, topics.wanted, self.flag, topics.created)
                topics.missing = [t for t in topics.wanted if t not in topics.parts]
            finally:  # also when stopped while waiting for a created topic's leaders
                topics.missing = [t for t in topics.missing if t not in topics.created]

    def _metadata(self, client: AdminClient, follow: bool, report: IngestResult) -> ClusterMetadata:
        """The cluster's metadata; with `follow`, an unreachable broker is asked again (backing
        off 1, 2, 4 ... 30 s) until it answers or the run is stopped."""
        if not follow:
            return cluster_metadata(self.settings, client, stopping=self.flag)

        def retrying(state: RetryCallState) -> None:
            report.broker_retries += 1
            exc = state.outcome.exception() if state.outcome else None
            why = exc.message if isinstance(exc, BrokerUnavailableError) else str(exc)
            pause = state.next_action.sleep if state.next_action else 0.0
            log.warning("%s; --follow retries in %.0f s, until stopped", why, pause)

        attempts = Retrying(
            retry=retry_if_exception_type(BrokerUnavailableError),
            wait=wait_exponential(multiplier=BACKOFF_FIRST_S, max=BACKOFF_MAX_S),
            sleep=self._pause,
            before_sleep=retrying,
            reraise=True,
        )
        return attempts(cluster_metadata, self.settings, client, stopping=self.flag)

    def _pause(self, seconds: float) -> None:
        """tenacity's sleep between attempts, cut short by a stop request (StopRequested)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.flag():
                raise StopRequested
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    # -- the report --------------------------------------------------------------------------------
    def _summarise(self, report: IngestResult, topics: Topics, session: Session | None) -> None:
        for s in report.sources:
            s.topic_exists = topics.exists(self.settings.kafka.topic(s.source))
            if session is not None:
                s.partitions = len(session.partitions_seen.get(s.source, ()))
                s.skipped = [k.to_result() for k in session.skipped if topics.wanted[k.topic] == s.source]
        report.missing_topics = list(topics.missing)
        report.created_topics = list(topics.created)
        report.lost_races = session.lost_races if session is not None else 0
        report.stopped_by_signal = self.flag()
        report.signal = self.flag.signal
