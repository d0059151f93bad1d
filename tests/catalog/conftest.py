"""The metadata store contract runs on every backend: SQLite always, PostgreSQL when reachable.

PostgreSQL: set LAKEHOUSE_TEST_POSTGRES_URL (postgresql+psycopg://...). With
LAKEHOUSE_REQUIRE_POSTGRES=1 an unreachable server fails the run instead of skipping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from lakehouse.metadata.store import MetadataStore

PG_URL = os.environ.get("LAKEHOUSE_TEST_POSTGRES_URL")
REQUIRE_PG = os.environ.get("LAKEHOUSE_REQUIRE_POSTGRES") == "1"


def _reset_postgres(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def metadata_dsn(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'metadata.db'}"
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("LAKEHOUSE_REQUIRE_POSTGRES=1 but LAKEHOUSE_TEST_POSTGRES_URL is not set")
        pytest.skip("set LAKEHOUSE_TEST_POSTGRES_URL to run the store contract on PostgreSQL")
    try:
        _reset_postgres(PG_URL)
    except sa.exc.OperationalError as e:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL required but unreachable at {PG_URL}: {e}")
        pytest.skip(f"PostgreSQL unreachable at {PG_URL}")
    return PG_URL


@pytest.fixture
def metadata(metadata_dsn: str) -> Iterator[MetadataStore]:
    store = MetadataStore.open(metadata_dsn)
    yield store
    store.close()
