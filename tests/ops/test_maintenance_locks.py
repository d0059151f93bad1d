"""The one commit lock per table: re-entrant for its holder (same thread, or work it hands to
another thread), exclusive for everyone else (threads and processes), released when its holder dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pytest

from lakehouse.config import Settings
from lakehouse.contract import TableId
from lakehouse.storage.delta import DeltaStore
from lakehouse.storage.locks import LockTimeoutError, carry, hold, holds

from support import lake_env, make_settings

T = TableId("gold", "daily_summary")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "lake", maintenance={"lock_timeout_s": 2})


def rows(n: int) -> pa.Table:
    return pa.table({"x": pa.array(range(n), pa.int64())})


def test_the_holder_re_enters_in_its_own_thread(settings: Settings) -> None:
    store = DeltaStore(settings)
    with hold(settings, T), hold(settings, T):  # would time out (2 s) if it were not re-entrant
        assert holds(settings, T)
        store.append(T, rows(3))  # the store takes the same lock inside
        store.append(T, rows(2))
    assert not holds(settings, T)
    assert store.info(T).rows == 5


def test_work_handed_to_another_thread_re_enters_and_others_wait(settings: Settings) -> None:
    store = DeltaStore(settings)
    with hold(settings, T), ThreadPoolExecutor(2) as pool:
        assert pool.submit(carry(store.append), T, rows(4)).result(timeout=30) >= 0
        with pytest.raises(LockTimeoutError):  # an unrelated thread is kept out
            pool.submit(lambda: hold(settings, T, timeout_s=0.3).__enter__()).result(timeout=30)
    other = threading.Thread(target=lambda: store.append(T, rows(1)))
    other.start()
    other.join(timeout=30)
    assert store.info(T).rows == 5


@pytest.mark.parametrize("die", [False, True])
def test_another_process_is_kept_out_until_the_holder_releases_or_dies(settings: Settings, die: bool) -> None:
    script = textwrap.dedent("""
        import sys
        from lakehouse.config import Settings
        from lakehouse.contract import TableId
        from lakehouse.storage.locks import hold
        with hold(Settings(), TableId("gold", "daily_summary")):
            print("held", flush=True)
            sys.stdin.readline()
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], env=lake_env(settings), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        store = DeltaStore(settings)
        with pytest.raises(LockTimeoutError, match="locked by another writer"):
            store.append(T, rows(1))
        assert not store.exists(T)
        if die:
            os.kill(proc.pid, signal.SIGKILL)  # the OS drops a dead holder's lock
        else:
            assert proc.stdin is not None
            proc.stdin.write("\n")
            proc.stdin.flush()
        proc.wait(timeout=30)
        store.append(T, rows(1))
        assert store.info(T).rows == 1
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()


def test_locks_of_different_tables_do_not_wait_for_each_other(settings: Settings) -> None:
    store = DeltaStore(settings)
    other = TableId("gold", "revenue_daily")
    with hold(settings, T):
        done = threading.Event()
        worker = threading.Thread(target=lambda: (store.append(other, rows(2)), done.set()))
        worker.start()
        assert done.wait(timeout=30)
        worker.join()
    assert store.info(other).rows == 2


def test_lock_files_live_with_the_lake(settings: Settings, tmp_path: Path) -> None:
    with hold(settings, T):
        pass
    assert (settings.layer_path("bronze") / "_locks" / "gold.daily_summary.lock").exists()
    assert not (tmp_path / "_locks").exists()
