"""A lake holding 120 days of events, built once by the real pipeline; each test gets a copy.
And the scheduler's store on each metadata backend."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lakehouse.metadata.store import MetadataStore
from lakehouse.ops.scheduler import ScheduleStore
from lakehouse.service import Lakehouse
from ops_support import DAYS, START

from support import BACKENDS, backend_dsn, make_settings


@pytest.fixture(scope="session")
def lake120(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """simulate (120 days) -> ingest -> transform; read-only: tests copy it (`copy_lake`)."""
    root = tmp_path_factory.mktemp("lake120") / "lake"
    lh = Lakehouse(make_settings(root))
    lh.simulate(events=12_000, days=DAYS, start=START, seed=5, bad_fraction=0.01)
    lh.ingest()
    lh.transform()
    return root


@pytest.fixture
def copy_lake(lake120: Path, tmp_path: Path) -> Callable[[], Lakehouse]:
    def make() -> Lakehouse:
        root = tmp_path / f"lake{len(list(tmp_path.iterdir()))}"
        shutil.copytree(lake120, root)
        return Lakehouse(make_settings(root))

    return make


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ScheduleStore]:
    """The scheduler's state on a fresh metadata store: SQLite, and PostgreSQL."""
    meta = MetadataStore.open(backend_dsn(request.param, tmp_path))
    yield ScheduleStore(meta.engine)
    meta.close()
