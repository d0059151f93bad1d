from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lakehouse.config import Settings
from lakehouse.query.engine import QueryEngine
from lakehouse.query.sample import build_sample_lake
from lakehouse.storage.delta import DeltaStore


@pytest.fixture
def store(tmp_path: Path) -> DeltaStore:
    s = DeltaStore(Settings(base_path=tmp_path / "lake", duckdb_threads=2, duckdb_memory_limit="1GB"))
    build_sample_lake(s, rows=50)
    return s


@pytest.fixture
def engine(store: DeltaStore) -> Iterator[QueryEngine]:
    e = QueryEngine(store.settings, store, workers=2, refresh_s=0.0)
    yield e
    e.close()
