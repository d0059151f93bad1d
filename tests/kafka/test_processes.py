"""Real ingest processes against a real broker: kill -9, group members coming and going, SIGTERM.

Each test produces while `lakehouse ingest --source kafka --follow` processes run, then checks
that bronze + quarantine hold every message of every topic exactly once.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lakehouse.config import SOURCES, Settings
from lakehouse.ingest.kafka import consumer_lag
from lakehouse.storage.delta import DeltaStore

pytestmark = pytest.mark.kafka

START = datetime(2026, 3, 2, tzinfo=UTC)
CLI = [sys.executable, "-m", "lakehouse.cli.main"]
INGEST = [*CLI, "ingest", "--source", "kafka", "--json"]


Spawn = Callable[..., "subprocess.Popen[bytes]"]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Start `ingest --follow` processes (stderr to tmp_path/ingest.log); none outlives the test."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(env: dict[str, str], *extra: str, debug: bool = False) -> subprocess.Popen[bytes]:
        cmd = [*CLI, "--debug", *INGEST[len(CLI) :]] if debug else INGEST
        with (tmp_path / "ingest.log").open("ab") as err:
            proc = subprocess.Popen(
                [*cmd, "--follow", *extra], env=env, stdout=subprocess.PIPE, stderr=err
            )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _producing(kit: Any, rounds: int, events: int, pause: float) -> threading.Thread:
    def run() -> None:
        for i in range(rounds):
            kit.produce(events=events, days=1, start=START, seed=1000 + i)
            time.sleep(pause)

    t = threading.Thread(target=run, name="producer")
    t.start()
    return t


def _streaming(
    kit: Any, events: int, seed: int
) -> tuple[threading.Thread, list[int], threading.Event]:
    """Produce rounds of `events` until the event is set; the list counts the rounds done."""
    rounds, stop = [0], threading.Event()

    def run() -> None:
        while not stop.is_set():
            kit.produce(events=events, days=1, start=START, seed=seed + rounds[0])
            rounds[0] += 1
            time.sleep(0.3)

    t = threading.Thread(target=run, name="producer")
    t.start()
    return t, rounds, stop


def _bronze_rows(settings: Settings) -> int:
    store = DeltaStore(settings)
    return sum(
        store.dataset(f"bronze.{s}").count_rows() for s in SOURCES if store.exists(f"bronze.{s}")
    )


def _caught_up(settings: Settings) -> bool:
    return all(v == 0 for parts in consumer_lag(settings).values() for v in parts.values())


def _wait_until(done: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.1)


def _wait_for_members(kit: Any, n: int, timeout: float = 90) -> None:
    """Until the group is stable with `n` members, each assigned partitions."""

    def ready() -> bool:
        group = kit.settings.kafka.group_id
        desc = kit.admin.describe_consumer_groups([group])[group].result(timeout=10)
        members = [m for m in desc.members if m.assignment.topic_partitions]
        return desc.state.name == "STABLE" and len(members) == len(desc.members) == n

    kit.wait_until(ready, timeout, f"a stable group of {n} members")


def _wait_for_no_lag(settings: Settings, timeout: float) -> None:
    _wait_until(lambda: _caught_up(settings), timeout)
    if not _caught_up(settings):
        pytest.fail(f"bronze still behind Kafka after {timeout:.0f} s: {consumer_lag(settings)}")


def test_kill_9_at_random_moments_while_producing_loses_and_duplicates_nothing(
    kit: Any, tmp_path: Path, spawn: Spawn
) -> None:
    settings: Settings = kit.settings
    log = tmp_path / "ingest.log"
    producer = _producing(kit, rounds=10, events=10_000, pause=1.0)
    rng = random.Random(17)
    killed_mid_work = 0
    for i in range(5):
        # A fresh group per restart: a killed member holds its partitions until its session
        # times out, and the Delta log, not the group, says where to resume.
        env = kit.env(
            group_id=f"{settings.kafka.group_id}-{i}",
            batch_max_messages=2_000,
            batch_max_seconds=0.2,
        )
        before = _bronze_rows(settings)
        proc = spawn(env)
        # Kill at a random moment once it is committing (startup time varies with the load).
        _wait_until(lambda b=before: _bronze_rows(settings) > b, 15)
        time.sleep(rng.uniform(0.0, 1.5))
        assert proc.poll() is None, (
            f"the ingest process exited by itself: {log.read_text()[-3000:]}"
        )
        proc.kill()
        proc.communicate()
        after = _bronze_rows(settings)
        killed_mid_work += after > before and producer.is_alive()
    producer.join()
    assert killed_mid_work >= 3, (
        f"only {killed_mid_work} kill(s) hit a process ingesting a live stream"
    )
    final = subprocess.run(
        INGEST, env=kit.env(group_id=f"{settings.kafka.group_id}-final"), capture_output=True
    )
    assert final.returncode == 0, final.stderr.decode()[-3000:]
    assert json.loads(final.stdout)["balanced"] is True
    kit.assert_exactly_once()


def test_group_members_join_and_die_mid_stream_and_each_message_lands_once(
    kit: Any, tmp_path: Path, spawn: Spawn
) -> None:
    settings: Settings = kit.settings
    env = kit.env(batch_max_messages=3_000, batch_max_seconds=0.3)  # one group for all members
    log = tmp_path / "ingest.log"
    producer, rounds, stop = _streaming(kit, events=6_000, seed=2000)
    first, second = spawn(env), spawn(env)
    _wait_for_members(kit, 2)
    third = spawn(env)  # three members: partitions move to the newcomer
    _wait_for_members(kit, 3)  # (not a fixed sleep: start-up takes seconds on a busy machine)
    first.kill()  # dies without leaving: its partitions move once its session times out
    first.communicate()
    killed_at = rounds[0]
    _wait_until(lambda: rounds[0] >= killed_at + 3, 120)  # the stream goes on after the death
    stop.set()
    producer.join()
    _wait_for_no_lag(settings, timeout=60)
    for proc in (second, third):
        proc.send_signal(signal.SIGTERM)
    reports = []
    for proc in (second, third):
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, log.read_text()[-2000:]
        reports.append(json.loads(out))
    assert all(r["balanced"] and r["stopped_by_signal"] for r in reports)
    assert all(r["received"] > 0 for r in reports), "both survivors should have ingested"
    kit.assert_exactly_once()


def test_sigterm_with_follow_commits_the_batch_in_hand_and_exits_0(
    kit: Any, tmp_path: Path, spawn: Spawn
) -> None:
    settings: Settings = kit.settings
    sim = kit.produce(
        events=8_000, days=1, start=START, seed=3, sources=["app_events", "transactions"]
    )
    # Batches close only after a minute: whatever was consumed is still in hand at SIGTERM.
    env = kit.env(batch_max_messages=1_000_000, batch_max_seconds=60)
    log = tmp_path / "ingest.log"
    # Every partition's end as the consumer logs it (--debug) once it has fetched that far.
    ends = {
        f"{kit.topic(s)}[{p}]: fetched to the end, offset {kit.watermarks(s, p)[1]}"
        for s in ("app_events", "transactions")
        for p in kit.admin.list_topics(kit.topic(s), timeout=10).topics[kit.topic(s)].partitions
    }
    proc = spawn(env, "--only", "app_events", "--only", "transactions", debug=True)
    deadline = time.monotonic() + 60
    while missing := {e for e in ends if e not in (log.read_text() if log.exists() else "")}:
        assert proc.poll() is None, f"exited {proc.returncode}: {log.read_text()[-2000:]}"
        assert time.monotonic() < deadline, f"not fetched in 60 s: {sorted(missing)}; {log.read_text()[-2000:]}"
        time.sleep(0.1)
    assert _bronze_rows(settings) == 0  # all of it fetched, none of it committed: in hand
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, log.read_text()[-2000:]
    report = json.loads(out)
    assert report["status"] == "success" and report["stopped_by_signal"] is True
    assert report["received"] == sim.records
    kit.assert_exactly_once(("app_events", "transactions"))


def test_kill_9_and_restart_in_the_same_group_loses_and_duplicates_nothing(
    kit: Any, tmp_path: Path, spawn: Spawn
) -> None:
    # As a supervisor restarts a worker: same group id. The killed member keeps its partitions
    # until its session times out (6 s here, the broker's minimum); then they move to the
    # members alive, which resume from bronze's offsets.
    settings: Settings = kit.settings
    env = kit.env(batch_max_messages=2_000, batch_max_seconds=0.2, session_timeout_ms=6_000)
    log = tmp_path / "ingest.log"
    producer, _rounds, stop = _streaming(kit, events=4_000, seed=3000)
    workers = [spawn(env), spawn(env)]
    rng = random.Random(23)
    kills = 0
    for _ in range(4):
        before = _bronze_rows(settings)
        _wait_until(lambda b=before: _bronze_rows(settings) > b, 30)
        time.sleep(rng.uniform(0.0, 1.5))  # a random moment while the group is committing
        victim = workers.pop(rng.randrange(len(workers)))
        assert victim.poll() is None, f"a worker exited by itself: {log.read_text()[-3000:]}"
        victim.kill()
        victim.communicate()
        kills += _bronze_rows(settings) > before
        workers.append(spawn(env))  # restarted in the same group
    stop.set()
    producer.join()
    _wait_for_no_lag(settings, timeout=120)
    for proc in workers:
        proc.send_signal(signal.SIGTERM)
    for proc in workers:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, log.read_text()[-3000:]
        report = json.loads(out)
        assert report["balanced"] and report["stopped_by_signal"]
    assert kills >= 3, f"only {kills} kill(s) hit a group that was committing"
    kit.assert_exactly_once()
    # Exact counts by `_source`: every message of every topic once, in bronze or quarantine.
    store = DeltaStore(settings)
    landed = Counter(
        label
        for table in [f"bronze.{s}" for s in SOURCES] + ["bronze.quarantine"]
        for label in store.dataset(table).to_table(columns=["_source"]).column(0).to_pylist()
    )
    topics = Counter(label for s in SOURCES for label in kit.read_topic(s))
    assert landed == topics
