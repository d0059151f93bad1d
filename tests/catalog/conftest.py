"""The metadata store contract runs on every backend: SQLite always, PostgreSQL when reachable.

PostgreSQL: set LAKEHOUSE_TEST_POSTGRES_URL (postgresql+psycopg://...). With
LAKEHOUSE_REQUIRE_POSTGRES=1 an unreachable server fails the run instead of skipping.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lakehouse.metadata.store import MetadataStore

from support import BACKENDS, backend_dsn


@pytest.fixture(params=BACKENDS)
def metadata_dsn(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return backend_dsn(request.param, tmp_path)


@pytest.fixture
def metadata(metadata_dsn: str) -> Iterator[MetadataStore]:
    store = MetadataStore.open(metadata_dsn)
    yield store
    store.close()
