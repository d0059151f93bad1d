from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lakehouse.api.app import create_app
from lakehouse.config import Settings
from lakehouse.query.sample import build_sample_lake
from lakehouse.service import Lakehouse
from lakehouse.storage.delta import DeltaStore


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = Settings(base_path=tmp_path / "lake", duckdb_threads=2, duckdb_memory_limit="1GB")
    build_sample_lake(DeltaStore(s), rows=60)
    return s


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def gov(client: TestClient) -> Lakehouse:
    g: Lakehouse = client.app.state.lakehouse  # type: ignore[attr-defined]
    return g


@pytest.fixture
def keys(gov: Lakehouse) -> dict[str, dict[str, str]]:
    """Auth headers per role."""
    return {role: {"Authorization": f"Bearer {gov.access.keys.create(role, name=f'{role}-1').token}"}
            for role in ("reader", "analyst", "admin")}


def build_pipeline_lake(root: Path, events: int = 3000, **overrides: object) -> Settings:
    """A lake built by the real pipeline (simulate → ingest → transform): every table, runs with
    their reports, quarantined records."""
    from lakehouse.service import Lakehouse

    s = Settings.under(root, duckdb_threads=1, duckdb_memory_limit="512MB", **overrides)  # type: ignore[arg-type]
    lh = Lakehouse(s)
    lh.simulate(events=events, days=3, seed=11)
    lh.ingest()
    lh.transform()
    return s


@pytest.fixture(scope="module")
def pipeline_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return build_pipeline_lake(tmp_path_factory.mktemp("pipeline") / "lake")


@pytest.fixture(scope="module")
def pipeline_client(pipeline_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(pipeline_settings)) as c:
        yield c


@pytest.fixture(scope="module")
def pipeline_keys(pipeline_client: TestClient) -> dict[str, dict[str, str]]:
    g: Lakehouse = pipeline_client.app.state.lakehouse  # type: ignore[attr-defined]
    return {role: {"Authorization": f"Bearer {g.access.keys.create(role).token}"} for role in ("reader", "analyst", "admin")}
