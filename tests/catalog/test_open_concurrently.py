"""Several processes and threads opening one new metadata store at once: all succeed, one schema."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import sqlalchemy as sa

from lakehouse.metadata.store import MetadataStore

OPEN = "import sys; from lakehouse.metadata.store import MetadataStore; MetadataStore.open(sys.argv[1]).close()"


def test_processes_racing_to_create_the_store_all_succeed(metadata_dsn: str) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", OPEN, metadata_dsn], stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    store = MetadataStore.open(metadata_dsn)
    try:
        with store.engine.connect() as conn:
            n = conn.execute(sa.text("SELECT count(*) FROM catalog_entries")).scalar_one()
        assert n == len(store.entries()) > 0
    finally:
        store.close()


def test_threads_racing_to_create_the_store_all_succeed(tmp_path: Path) -> None:
    dsn = f"sqlite:///{tmp_path / 'metadata.db'}"
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            MetadataStore.open(dsn).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
