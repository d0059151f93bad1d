"""A partition that no longer continues from bronze's offset is never skipped in silence.

Each case is made real on the broker: a topic deleted and created again (with fewer, more, as
many messages, other partition counts), messages removed below bronze's offset
(`delete_records`, as retention does), an offset past the partition's end (a lake whose
offsets predate topic ids, after a broker reset). By default the run fails with one line
naming topic[partition] and commits nothing; with `--no-fail-on-data-loss` it restarts the
partition, counts exactly what it read, and records the skip in the report and in the commit.
"""

from __future__ import annotations

import json
import operator
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import asdict
from typing import Any

import pytest

from lakehouse.config import Settings
from lakehouse.contract import TableId
from lakehouse.ingest.kafka import KafkaIngestor
from lakehouse.ingest.kafka.client import app_id
from lakehouse.ingest.kafka.offsets import PAST_END, RECREATED, RETENTION, DataLossError
from lakehouse.ingest.schemas import bronze_schema
from lakehouse.results import IngestResult
from lakehouse.service import Lakehouse
from lakehouse.storage.delta import DeltaStore

pytestmark = pytest.mark.kafka

SOURCE = "app_events"
BRONZE = TableId("bronze", SOURCE)
CLI = [sys.executable, "-m", "lakehouse.cli.main"]


def _fill(kit: Any, tag: str, counts: list[int]) -> set[str]:
    """`counts[p]` messages into partition p; returns their event ids."""
    ids: set[str] = set()
    for p, n in enumerate(counts):
        values = [kit.event(f"{tag}-p{p}", i) for i in range(n)]
        kit.send(SOURCE, values, p)
        ids |= {json.loads(v)["event_id"] for v in values}
    return ids


def _event_ids(settings: Settings) -> Counter[str]:
    store = DeltaStore(settings)
    if not store.exists(BRONZE):
        return Counter()
    return Counter(store.dataset(BRONZE).to_table(columns=["event_id"]).column(0).to_pylist())


def _ingest(settings: Settings, **kw: Any) -> IngestResult:
    return Lakehouse(settings).ingest(source="kafka", sources=[SOURCE], **kw)


def _cli_ingest(kit: Any, *extra: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*CLI, "ingest", "--source", "kafka", "--only", SOURCE, "--json", *extra],
        env=kit.env(),
        capture_output=True,
        timeout=180,
    )


def _committed_skips(settings: Settings) -> list[dict[str, Any]]:
    """Every skip recorded in bronze's commit metadata, oldest first."""
    out: list[dict[str, Any]] = []
    for commit in reversed(DeltaStore(settings).history(BRONZE)):
        if "lakehouse.kafka.skipped" in commit.metadata:
            out += json.loads(commit.metadata["lakehouse.kafka.skipped"])
    return out


def _latest_report(settings: Settings) -> dict[str, Any]:
    reports = sorted(settings.logs_path.glob("ingest_*.json"), key=lambda p: p.stat().st_mtime)
    data: dict[str, Any] = json.loads(reports[-1].read_text())
    return data


def _fails_and_commits_nothing(kit: Any, partitions: list[int], reason: str) -> None:
    """The default policy: exit code 1, one error line naming each topic[partition], no commit."""
    settings: Settings = kit.settings
    version = DeltaStore(settings).version(BRONZE)
    before = _event_ids(settings)
    done = _cli_ingest(kit)
    err = " ".join(done.stderr.decode().split())  # the console wraps long lines
    assert done.returncode == 1, err
    assert err.startswith("error: data loss on ") and err.count("error:") == 1, err
    assert "Traceback" not in err and reason in err
    for p in partitions:
        assert f"{kit.topic(SOURCE)}[{p}]" in err, err
    assert "--no-fail-on-data-loss" in err
    assert DeltaStore(settings).version(BRONZE) == version
    assert _event_ids(settings) == before
    failed = _latest_report(settings)
    assert failed["status"] == "failed"
    assert sorted(x["partition"] for x in failed["data_loss"]) == partitions
    with pytest.raises(DataLossError) as caught:
        _ingest(settings)
    assert sorted(s.partition for s in caught.value.skips) == partitions
    assert DeltaStore(settings).version(BRONZE) == version


def _skips_are_recorded(
    settings: Settings, report: IngestResult, expected: dict[int, tuple[str, int, int]]
) -> None:
    """partition -> (reason, from, to): in the report and in bronze's commit metadata, once."""
    got = {s.partition: (s.reason, s.from_offset, s.to_offset) for s in report.skipped}
    assert got == expected
    assert report.source(SOURCE).skipped == report.skipped
    committed = _committed_skips(settings)
    assert {s["partition"]: (s["reason"], s["from_offset"], s["to_offset"]) for s in committed} == expected
    # The same records, once each, in bronze's commits and in the report.
    by_partition = operator.itemgetter("partition")
    assert sorted(committed, key=by_partition) == sorted(map(asdict, report.skipped), key=by_partition)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ([40, 30, 20], [5, 0, 12]),  # fewer messages than bronze's offsets: past the end
        ([10, 10, 10], [50, 25, 10]),  # more or as many: offsets alone cannot tell
        ([10, 10, 10], [4, 30]),  # fewer partitions
        ([5, 5, 5], [1, 2, 3, 20]),  # more partitions: the new one has no offset yet
    ],
)
def test_a_recreated_topic_fails_the_run_or_restarts_from_its_first_message(
    kit: Any, before: list[int], after: list[int]
) -> None:
    settings: Settings = kit.settings
    kit.create(SOURCE, len(before))
    old = _fill(kit, "old", before)
    assert _ingest(settings).received == sum(before)
    kit.recreate(SOURCE, len(after))
    new = _fill(kit, "new", after)
    recreated = [p for p in range(min(len(before), len(after)))]
    _fails_and_commits_nothing(kit, recreated, RECREATED)

    report = _ingest(settings, fail_on_data_loss=False)
    assert report.status == "success" and report.balanced is True
    assert report.received == report.bronze == sum(after)
    assert _event_ids(settings) == Counter(old | new)  # every message once, old and new
    _skips_are_recorded(settings, report, {p: (RECREATED, before[p], 0) for p in recreated})
    again = _ingest(settings)  # the skip moved bronze's offsets: the default policy is content
    assert again.received == 0 and again.skipped == []


@pytest.mark.parametrize(
    "deleted",
    [
        {0: 35},  # a gap of 5 on one partition
        {0: 50, 2: 31},  # one partition emptied, a gap of 1 on another
        {1: 45, 2: 30},  # below bronze's offset on one, exactly at it on another (no loss)
    ],
)
def test_messages_deleted_before_ingestion_fail_the_run_or_are_skipped_and_recorded(
    kit: Any, deleted: dict[int, int]
) -> None:
    settings: Settings = kit.settings
    kit.create(SOURCE, 3)
    old = _fill(kit, "old", [30, 30, 30])
    _ingest(settings)
    _fill(kit, "more", [20, 20, 20])  # offsets 30..49 of each partition
    for p, before in deleted.items():
        kit.delete_records(SOURCE, p, before)
    lossy = sorted(p for p, before in deleted.items() if before > 30)
    _fails_and_commits_nothing(kit, lossy, RETENTION)

    report = _ingest(settings, fail_on_data_loss=False)
    lows = {p: deleted.get(p, 30) for p in range(3)}
    assert report.balanced is True
    assert report.received == report.bronze == sum(50 - max(30, lows[p]) for p in range(3))
    still_there = {
        f"more-p{p}-{i}" for p in range(3) for i in range(20) if 30 + i >= lows[p]
    }
    assert _event_ids(settings) == Counter(old | still_there)
    _skips_are_recorded(settings, report, {p: (RETENTION, 30, deleted[p]) for p in lossy})
    skipped = {s.partition: s.skipped_offsets for s in report.skipped}
    assert skipped == {p: deleted[p] - 30 for p in lossy}
    assert _ingest(settings).received == 0


@pytest.mark.parametrize(
    ("counts", "markers"),
    [
        ([10, 10, 10], {0: 11}),  # one past the end
        ([10, 10, 10], {0: 1_000, 1: 10_000_000, 2: 10}),  # far past; exactly at the end is fine
        ([0, 0, 0], {0: 5, 1: 1}),  # an empty topic (a reset broker before producers came back)
    ],
)
def test_an_offset_past_the_partitions_end_fails_the_run_or_restarts_it(
    kit: Any, counts: list[int], markers: dict[int, int]
) -> None:
    # Offsets written before topic ids were recorded (a lake from an older version): only the
    # watermarks can tell that the broker was reset under them.
    settings: Settings = kit.settings
    kit.create(SOURCE, 3)
    DeltaStore(settings).append(
        BRONZE,
        bronze_schema(SOURCE).empty_table(),
        partition_by=["event_date"],
        txns={app_id(kit.topic(SOURCE), p): m for p, m in markers.items()},
    )
    _fill(kit, "now", counts)
    past = sorted(p for p, m in markers.items() if m > counts[p])
    _fails_and_commits_nothing(kit, past, PAST_END)

    report = _ingest(settings, fail_on_data_loss=False)
    read = [p for p in range(3) if p in past or p not in markers]  # at the end: nothing new
    assert report.received == report.bronze == sum(counts[p] for p in read)
    expected = {f"now-p{p}-{i}" for p in read for i in range(counts[p])}
    assert _event_ids(settings) == Counter(expected)
    _skips_are_recorded(settings, report, {p: (PAST_END, markers[p], 0) for p in past})
    assert _ingest(settings).received == 0


def _following(settings: Settings) -> tuple[KafkaIngestor, threading.Thread, dict[str, Any]]:
    ingestor = KafkaIngestor(settings, DeltaStore(settings))
    out: dict[str, Any] = {}

    def go() -> None:
        try:
            out["report"] = ingestor.run([SOURCE], follow=True)
        except BaseException as exc:
            out["error"] = exc

    t = threading.Thread(target=go, name="follow")
    t.start()
    return ingestor, t, out


@pytest.mark.parametrize("after", [[5, 0, 3], [40, 40, 40], [6, 30]])
@pytest.mark.parametrize("fail", [True, False])
def test_a_topic_recreated_under_a_following_consumer_is_caught(
    kit: Any, after: list[int], fail: bool
) -> None:
    # Fewer messages: the next fetch is out of range (auto.offset.reset=error). More: librdkafka
    # fetches on from the old position without a word; the commit's topic-id check catches it.
    settings = kit.settings.model_copy(
        update={"kafka": kit.settings.kafka.model_copy(update={"fail_on_data_loss": fail})}
    )
    kit.create(SOURCE, 3)
    old = _fill(kit, "old", [20, 20, 20])
    ingestor, thread, out = _following(settings)
    try:
        kit.wait_until(lambda: sum(_event_ids(settings).values()) == 60, 60, "the first 60 ingested")
        kit.recreate(SOURCE, len(after))
        new = _fill(kit, "new", after)
        if fail:
            thread.join(timeout=90)
            assert not thread.is_alive(), "the follower did not stop on data loss"
            assert isinstance(out.get("error"), DataLossError), out
            assert _event_ids(settings) == Counter(old)  # nothing of the new topic committed
            return
        kit.wait_until(
            lambda: _event_ids(settings) == Counter(old | new), 90, "the new topic ingested"
        )
    finally:
        ingestor.stop()
        thread.join(timeout=60)
    report = out["report"]
    assert report.balanced is True
    assert _event_ids(settings) == Counter(old | new)
    got = {s.partition: (s.reason, s.from_offset) for s in report.skipped}
    assert got == {p: (RECREATED, 20) for p in range(len(after))}
    assert len(_committed_skips(settings)) == len(after)


def test_a_failed_run_is_reported_in_the_logs_and_the_run_history(kit: Any) -> None:
    settings: Settings = kit.settings
    kit.create(SOURCE, 1)
    _fill(kit, "a", [3])
    _ingest(settings)
    kit.recreate(SOURCE, 1)
    with pytest.raises(DataLossError):
        _ingest(settings)
    failed = _latest_report(settings)
    assert failed["status"] == "failed" and "data loss on" in failed["error"]
    (entry,) = failed["data_loss"]
    assert (entry["partition"], entry["reason"], entry["from_offset"]) == (0, RECREATED, 3)
    (run,) = Lakehouse(settings).catalog.runs(job="ingest", status="failed")
    assert run["run_id"] == failed["run_id"]
