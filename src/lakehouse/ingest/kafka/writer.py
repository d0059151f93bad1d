"""Commits on background threads, so parsing and writing overlap consuming.

DuckDB and delta-rs release the GIL while they work, so the consumer loop and the commits
of earlier batches run side by side. Each topic is served by one thread (`CommitPool`), so a
partition's batches commit strictly in order; different topics commit in parallel. At most
`depth` batches wait per thread: memory stays bounded by a few batches.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass

from lakehouse.ingest.kafka.batch import Chunk
from lakehouse.ingest.kafka.commit import Committed, Committer
from lakehouse.ingest.kafka.offsets import Skip

log = logging.getLogger(__name__)


@dataclass
class Job:
    """A batch to commit, or (`skip` set, `chunk` None) one partition's recorded skip."""

    topic: str
    chunk: Chunk | None
    expected: dict[int, int | None]  # partition -> the bronze marker the chunk continues from
    epochs: dict[int, int]  # partition -> the consumer's seek epoch when the chunk was read
    topic_id: int | None = None  # the topic id hash the offsets count in (None: unknown)
    skip: Skip | None = None

    def run(self, committer: Committer) -> Committed:
        if self.skip is not None:
            p = self.skip.partition
            return committer.skip(self.skip, self.expected[p], self.topic_id)
        assert self.chunk is not None
        return committer.commit(self.chunk, self.expected, self.topic_id)


@dataclass
class Done:
    job: Job
    result: Committed


class CommitWorker:
    def __init__(self, committers: dict[str, Committer], depth: int = 1) -> None:
        self.committers = committers
        self._jobs: queue.Queue[Job | None] = queue.Queue(maxsize=depth)
        self._done: list[Done] = []
        self._lock = threading.Lock()
        self.error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._loop, name="lakehouse-kafka-commit", daemon=True
        )
        self._thread.start()

    def submit(self, job: Job) -> None:
        self.raise_if_failed()
        self._jobs.put(job)  # blocks while `depth` jobs wait: back-pressure on the consumer

    def results(self) -> list[Done]:
        with self._lock:
            out, self._done = self._done, []
        return out

    def wait_idle(self) -> None:
        self._jobs.join()
        self.raise_if_failed()

    def raise_if_failed(self) -> None:
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join()

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                if self.error is not None:
                    continue  # after a failure nothing more is committed; the run is failing
                result = job.run(self.committers[job.topic])
                with self._lock:
                    self._done.append(Done(job, result))
            except BaseException as exc:
                log.debug("commit failed", exc_info=True)
                self.error = exc
            finally:
                self._jobs.task_done()


class CommitPool:
    """`threads` CommitWorkers; a topic always goes to the same one (its commits stay ordered)."""

    def __init__(self, committers: dict[str, Committer], threads: int) -> None:
        n = max(1, min(threads, len(committers)))
        self.workers = [CommitWorker(committers) for _ in range(n)]
        self.route = {topic: self.workers[i % n] for i, topic in enumerate(committers)}

    def submit(self, job: Job) -> None:
        self.route[job.topic].submit(job)

    def results(self) -> list[Done]:
        return [d for w in self.workers for d in w.results()]

    def wait_idle(self) -> None:
        for w in self.workers:
            w.wait_idle()

    def raise_if_failed(self) -> None:
        for w in self.workers:
            w.raise_if_failed()

    def close(self) -> None:
        for w in self.workers:
            w.close()
