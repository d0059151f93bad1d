"""A process killed in the middle of the metadata store's first migration leaves nothing half
done: the next open migrates from scratch (SQLite used to keep the tables created so far without
the revision stamp, and every later open failed with "table already exists")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lakehouse.metadata.store import MetadataStore

DIE = """
import os, sys
from sqlalchemy import event
from sqlalchemy.engine import Engine
seen = 0
@event.listens_for(Engine, "after_cursor_execute")
def die(conn, cursor, statement, *args):
    global seen
    if statement.lstrip().upper().startswith("CREATE TABLE"):
        seen += 1
        if seen == int(sys.argv[2]):
            os._exit(9)  # like kill -9: no rollback, no cleanup
from lakehouse.metadata.store import MetadataStore
MetadataStore.open(sys.argv[1])
"""


@pytest.mark.parametrize("nth", [1, 2, 4])
def test_death_mid_migration_then_open_works(tmp_path: Path, nth: int) -> None:
    dsn = f"sqlite:///{tmp_path / 'metadata.db'}"
    died = subprocess.run([sys.executable, "-c", DIE, dsn, str(nth)], capture_output=True, text=True)
    assert died.returncode == 9, died.stderr
    store = MetadataStore.open(dsn)
    try:
        assert len(store.entries()) > 0  # migrated and seeded
        assert store.api_keys() == []
    finally:
        store.close()
