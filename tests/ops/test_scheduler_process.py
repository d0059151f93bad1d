"""Real `lakehouse scheduler` processes: kill -9 one and the other takes over once its lease
expired; SIGTERM lets the job in hand finish, then releases the lease.

A job is kept "in hand" deterministically by holding the lake's transform lock (the file lock
every transform takes): the scheduled silver run waits on it until the test lets go.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest

from lakehouse.config import Settings
from lakehouse.metadata.store import MetadataStore
from lakehouse.ops.scheduler import RunRow, ScheduleStore
from lakehouse.service import Lakehouse
from lakehouse.storage.locks import table_lock

from support import BACKENDS, backend_dsn, lake_env, make_settings

pytestmark = pytest.mark.slow  # left out of `make test-fast`

T = TypeVar("T")
LEASE_S = 3.0


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 90.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture(params=BACKENDS)
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Settings, ScheduleStore]]:
    if request.param == "postgresql":  # the store that schedulers on several hosts would share
        settings = make_settings(tmp_path / "lake", metadata_url=backend_dsn("postgresql", tmp_path))
    else:
        settings = make_settings(tmp_path / "lake")
    lh = Lakehouse(settings)
    lh.simulate(events=1_500, days=1, start=datetime(2026, 3, 1, tzinfo=UTC), seed=8)
    lh.ingest()
    lh.close()  # the test's own connections to the store: only `meta` below stays open
    meta = MetadataStore.open(settings.metadata_dsn)
    store = ScheduleStore(meta.engine)
    # Silver's last slot five minutes ago: it is due the moment a scheduler starts.
    store.set_slot("silver", "* * * * *", datetime.now(UTC) - timedelta(minutes=5))
    yield settings, store
    meta.close()


def start(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = lake_env(
        settings, LAKEHOUSE_SCHEDULE__LEASE_S=str(LEASE_S), LAKEHOUSE_SCHEDULE__SILVER__CRON="* * * * *",
        **{f"LAKEHOUSE_SCHEDULE__{j.upper()}__ENABLED": "false" for j in ("ingest", "gold", "retention", "optimize")},
    )
    env["LAKEHOUSE_METADATA_URL"] = settings.metadata_dsn
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "lakehouse.cli.main", "scheduler"], env=env,
                                stdout=out, stderr=subprocess.STDOUT)


def pid_of(holder: str | None) -> int:
    assert holder
    return int(holder.split(":")[1])


def silver_runs(store: ScheduleStore) -> list[RunRow]:
    return list(reversed(store.history("silver")))


def test_a_killed_schedulers_lease_is_taken_over_after_it_expires(
    lake: tuple[Settings, ScheduleStore], tmp_path: Path,
) -> None:
    settings, store = lake
    blocker = table_lock(settings, "transform")
    blocker.acquire()
    procs = [start(settings, tmp_path / "a.log"), start(settings, tmp_path / "b.log")]
    try:
        running = wait_for("a silver run in hand", lambda: next(
            (r for r in silver_runs(store) if r.status == "running"), None))
        first = next(p for p in procs if p.pid == pid_of(running.holder))
        second = next(p for p in procs if p is not first)
        lease = store.lease("scheduler")
        assert lease is not None and pid_of(lease.holder) == first.pid  # the other one stands by
        first.kill()  # kill -9, mid-job
        first.wait(10)
        killed_at = store.now()
        blocker.release()
        taken = wait_for("the standby to take over", lambda: (
            row if (row := store.lease("scheduler")) and row.holder and pid_of(row.holder) == second.pid else None))
        # Not before the dead holder's lease ran out.
        assert taken.acquired_at is not None and taken.acquired_at >= killed_at - 0.5
        assert taken.acquired_at - (lease.renewed_at or 0) >= LEASE_S - 0.5
        done = wait_for("the silver run to be redone by the new holder", lambda: next(
            (r for r in silver_runs(store) if r.status == "success"), None))
        assert pid_of(done.holder) == second.pid
        old = next(r for r in silver_runs(store) if r.id == running.id)
        assert old.status == "abandoned" and old.ended_at is not None
        assert done.started_at >= old.ended_at  # never two runs of silver at once
        assert Lakehouse(settings).store.exists("silver.app_events")
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
        assert store.lease("scheduler").holder is None  # type: ignore[union-attr]
    finally:
        if blocker.is_locked:
            blocker.release()
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)


def test_sigterm_lets_the_job_in_hand_finish_then_releases_the_lease(
    lake: tuple[Settings, ScheduleStore], tmp_path: Path,
) -> None:
    settings, store = lake
    blocker = table_lock(settings, "transform")
    blocker.acquire()
    proc = start(settings, tmp_path / "a.log")
    try:
        running = wait_for("a silver run in hand", lambda: next(
            (r for r in silver_runs(store) if r.status == "running"), None))
        proc.send_signal(signal.SIGTERM)
        # The scheduler says it is stopping (on its lease) while the job is still in hand...
        wait_for("the stopping state", lambda: (store.lease("scheduler") or None) and
                 store.lease("scheduler").state == "stopping")  # type: ignore[union-attr]
        assert proc.poll() is None and store.history("silver")[0].status == "running"
        blocker.release()
        # ... then the job finishes, is recorded, and the process exits 0 with its lease released.
        assert proc.wait(60) == 0, (tmp_path / "a.log").read_text()
        row = next(r for r in silver_runs(store) if r.id == running.id)
        assert row.status == "success" and row.run_ids
        assert store.lease("scheduler").holder is None  # type: ignore[union-attr]
        assert Lakehouse(settings).store.exists("silver.app_events")
    finally:
        if blocker.is_locked:
            blocker.release()
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
