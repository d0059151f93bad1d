"""Shared fixtures: a lake in a temp dir, and one lake built by the real pipeline per test run.

`make test` runs the suite in parallel processes (pytest-xdist, `--dist loadgroup`, see
scripts/run-tests.sh). What a worker could share with another is kept apart here: each worker
has its own PostgreSQL database (the tests drop and recreate its schema); all the Spark tests go
to one worker, to run in one Spark session; the other tests go by module (`xdist_scope`).
"""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lakehouse.config import Settings
from lakehouse.service import Lakehouse

from support import make_settings

BUILT_START = datetime(2026, 3, 2, tzinfo=UTC)


def _postgres_per_worker() -> None:
    """Under xdist, point LAKEHOUSE_TEST_POSTGRES_URL at a database of this worker's own
    (`<db>_<worker>`, created if missing). Done on import, before any test module reads the URL."""
    worker, url = os.environ.get("PYTEST_XDIST_WORKER"), os.environ.get("LAKEHOUSE_TEST_POSTGRES_URL")
    if not worker or not url:
        return
    import sqlalchemy as sa

    base = sa.make_url(url)
    mine = base.set(database=f"{base.database}_{worker}")
    os.environ["LAKEHOUSE_TEST_POSTGRES_URL"] = mine.render_as_string(hide_password=False)
    engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    exists = sa.text("SELECT 1 FROM pg_database WHERE datname = :n")
    deadline = time.monotonic() + 30
    try:
        with engine.connect() as conn:
            while conn.scalar(exists, {"n": mine.database}) is None:
                try:
                    conn.execute(sa.text(f'CREATE DATABASE "{mine.database}"'))
                except sa.exc.DBAPIError:  # another run made it first, or held the template
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
    except sa.exc.OperationalError:
        pass  # unreachable: the PostgreSQL tests say so (and fail where it is required)
    finally:
        engine.dispose()


_postgres_per_worker()


# A Spark test: anything under tests/spark/, and the engine-parametrised tests' `spark` cases.
_SPARK_TEST = re.compile(r"^tests/spark/|\[spark[\]-]")


def xdist_scope(nodeid: str) -> str:
    """The unit a worker runs whole: every Spark test together (one Spark session, the shared
    lakes built once), every other test with the rest of its module (module fixtures built once)."""
    return "spark" if _SPARK_TEST.search(nodeid) else nodeid.split("::", 1)[0]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadgroup` by `xdist_scope` (xdist's own reads marks through `item._nodeid`,
    which pytest 9 no longer uses), the biggest units first: the Spark tests start at once."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByScope(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_scope(nodeid)

    return ByScope(config, log)


@pytest.hookimpl(trylast=True)  # after tests/spark/conftest.py marks its tests
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The scheduler sees node ids only: a Spark test it would not keep with the others is an error.
    for item in items:
        spark = item.get_closest_marker("spark") is not None
        if spark != (xdist_scope(item.nodeid) == "spark"):
            raise pytest.UsageError(f"{item.nodeid}: marked spark={spark}, but tests/conftest.py's xdist_scope says otherwise")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "lake")


@pytest.fixture
def lh(settings: Settings) -> Lakehouse:
    return Lakehouse(settings)


@pytest.fixture(scope="session")
def built_lake(tmp_path_factory: pytest.TempPathFactory) -> Lakehouse:
    """A lake built by the real pipeline (simulate -> ingest -> transform, in two deliveries).

    Shared by every test of a run that only reads: do not write to it.
    """
    root = tmp_path_factory.mktemp("built") / "lake"
    lh = Lakehouse(make_settings(root))
    lh.simulate(events=30_000, days=4, start=BUILT_START, seed=11, bad_fraction=0.02)
    lh.ingest()
    lh.transform()
    lh.simulate(events=6_000, days=1, start=BUILT_START.replace(day=6), seed=12, bad_fraction=0.02)
    lh.ingest()
    lh.transform()
    return lh
