"""Landing files reach bronze exactly once, whatever moment the ingest process dies at."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.compute as pc
import pytest

from lakehouse.config import SOURCES
from lakehouse.service import Lakehouse
from lakehouse.simulate import SimulationReport

from support import die_after_quarantine_commit, lake_env, land, make_settings

START = datetime(2026, 3, 2, tzinfo=UTC)


def assert_exactly_once(lh: Lakehouse, sims: list[SimulationReport]) -> None:
    for source in SOURCES:
        expected_bronze = sum(s.sources[source].expected_bronze for s in sims)
        expected_q = sum(s.sources[source].expected_quarantine for s in sims)
        bronze = lh.store.dataset(f"bronze.{source}").to_table(columns=["_source"])
        assert bronze.num_rows == expected_bronze, source
        assert pc.count_distinct(bronze.column("_source")).as_py() == expected_bronze, f"{source}: a line twice"
        q = lh.store.dataset("bronze.quarantine").to_table(filter=pc.field("source") == source)
        assert q.num_rows == expected_q, source
        assert pc.count_distinct(q.column("_source")).as_py() == expected_q


def test_simulated_landing_zone_is_ingested_exactly_once_and_reruns_add_nothing(lh: Lakehouse) -> None:
    sim = lh.simulate(events=40_000, days=3, start=START, seed=3)
    report = lh.ingest()
    assert report.details["balanced"] is True
    assert report.details["received"] == sim.records
    assert report.details["quarantined"] == sum(s.expected_quarantine for s in sim.sources.values())
    assert_exactly_once(lh, [sim])
    versions = {s: lh.store.version(f"bronze.{s}") for s in SOURCES}
    again = lh.ingest()
    assert again.details["received"] == 0
    assert {s: lh.store.version(f"bronze.{s}") for s in SOURCES} == versions
    # Re-simulating the same seed rewrites identical files: still nothing new.
    lh.simulate(events=40_000, days=3, start=START, seed=3)
    assert lh.ingest().details["received"] == 0
    assert_exactly_once(lh, [sim])


def _progress_marks(bronze: Path) -> tuple[int, int]:
    """(data files written, commits made) across the bronze tables, as seen on disk now."""
    files = commits = 0
    if not bronze.exists():
        return 0, 0
    for table in os.scandir(bronze):
        if not table.is_dir() or table.name.startswith("_"):
            continue
        for root, _dirs, names in os.walk(table.path):
            if root.endswith("_delta_log"):
                commits += sum(n.endswith(".json") for n in names)
            else:
                files += sum(n.endswith(".parquet") for n in names)
    return files, commits


def test_kill_9_at_random_moments_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    """Each round is killed once the ingest has made progress on disk — a random number of new
    data files (before their commit) or of new commits — so every kill lands mid-ingest
    whatever the machine's speed; rounds that finish first are not counted as kills."""
    settings = make_settings(tmp_path / "lake")
    lh = Lakehouse(settings)
    sims = [lh.simulate(events=60_000, days=2, start=START, seed=s) for s in (1, 2)]
    env = lake_env(settings, LAKEHOUSE_INGEST_CHUNK_BYTES=str(256 * 1024))  # many commits: many places to die
    bronze = settings.layer_path("bronze")
    rng = random.Random(7)
    kills = 0
    for _ in range(8):
        before = _progress_marks(bronze)
        kind = rng.randrange(2)  # 0: a data file was written (its commit may not be), 1: a commit landed
        target = before[kind] + rng.randint(1, 4)
        proc = subprocess.Popen(
            [sys.executable, "-m", "lakehouse.cli.main", "ingest", "--json"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 300
        while proc.poll() is None:
            if _progress_marks(bronze)[kind] >= target:
                os.kill(proc.pid, signal.SIGKILL)
                kills += 1
                break
            if time.monotonic() > deadline:  # no progress at all: stop it, it is not a kill that counts
                proc.kill()
                break
            time.sleep(0.002)  # polling the condition, not waiting for time to pass
        proc.wait()
    final = subprocess.run(
        [sys.executable, "-m", "lakehouse.cli.main", "ingest", "--json"], env=env, capture_output=True, text=True
    )
    assert final.returncode == 0, final.stderr
    assert kills >= 3, f"only {kills} rounds were killed mid-ingest"
    assert_exactly_once(Lakehouse(settings), sims)


def test_death_between_quarantine_and_bronze_commits(lh: Lakehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    good = {"event_id": "e1", "user_id": "u1", "event_type": "click", "timestamp": "2026-03-01T00:00:00Z"}
    land(lh.settings, "app_events", "a.ndjson", [good, "{broken", {**good, "event_id": "e2"}])
    undo = die_after_quarantine_commit(monkeypatch)
    with pytest.raises(SystemExit):
        lh.ingest(sources=["app_events"])
    undo()
    assert lh.store.dataset("bronze.quarantine").count_rows() == 1
    lh.ingest(sources=["app_events"])
    assert lh.store.dataset("bronze.quarantine").count_rows() == 1
    assert sorted(r["event_id"] for r in lh.store.dataset("bronze.app_events").to_table().to_pylist()) == ["e1", "e2"]


def test_small_chunks_give_the_same_bronze_as_one_big_chunk(tmp_path: Path) -> None:
    tables = {}
    for chunk in (2048, 64 * 1024 * 1024):
        settings = make_settings(tmp_path / f"lake{chunk}", ingest_chunk_bytes=chunk)
        lh = Lakehouse(settings)
        lh.simulate(events=5_000, days=1, start=START, seed=9, sources=["app_events"])
        lh.ingest()
        t = lh.store.dataset("bronze.app_events").to_table().drop_columns(["_ingested_at", "_batch_id"])
        tables[chunk] = t.sort_by("_source").to_pylist()
    assert tables[2048] == tables[64 * 1024 * 1024]


def test_appended_file_is_tailed_and_edge_lines_are_handled(tmp_path: Path) -> None:
    lh = Lakehouse(make_settings(tmp_path / "lake", ingest_settle_s=0.5))
    rec = {"event_id": "e1", "user_id": "u1", "event_type": "click", "timestamp": "2026-03-01T00:00:00Z"}
    path = land(lh.settings, "app_events", "tail.ndjson", [rec])
    lh.ingest(sources=["app_events"])
    with path.open("ab") as fh:  # CRLF line, a line of invalid UTF-8, and a last line without newline
        fh.write(b'{"event_id":"e2","user_id":"u1","event_type":"click","timestamp":"2026-03-01T00:00:01Z"}\r\n')
        fh.write(b'{"event_id":"e3","user_id":"\xff\xfe"}\n')
        fh.write(b'{"event_id":"e4","user_id":"u1","event_type":"click","timestamp":"2026-03-01T00:00:02Z"}')
    os.utime(path, ns=(time.time_ns() - 10**9, time.time_ns() - 10**9))  # written a second ago: settled
    report = lh.ingest(sources=["app_events"])
    assert report.details["received"] == 3
    ids = sorted(r["event_id"] for r in lh.store.dataset("bronze.app_events").to_table().to_pylist())
    assert ids == ["e1", "e2", "e4"]
    (q,) = lh.store.dataset("bronze.quarantine").to_table().to_pylist()
    assert q["reason"] == "invalid UTF-8" and q["position"] == 3 and q["_source"] == "app_events/tail.ndjson:3"


def test_hidden_and_temporary_files_are_not_read(lh: Lakehouse) -> None:
    rec = {"event_id": "e1", "user_id": "u1", "event_type": "click", "timestamp": "2026-03-01T00:00:00Z"}
    land(lh.settings, "app_events", "ok.ndjson", [rec])
    folder = lh.settings.landing / "app_events"
    (folder / ".inflight.ndjson").write_text('{"event_id": "x"}\n')
    (folder / "partial.ndjson.tmp").write_text('{"event_id": "y"}\n')
    (folder / "_SUCCESS").write_text("")
    assert lh.ingest(sources=["app_events"]).details["received"] == 1
