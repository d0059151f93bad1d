from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lakehouse.api.app import create_app
from lakehouse.catalog.service import Governance
from lakehouse.config import Settings
from lakehouse.query.sample import build_sample_lake
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
def gov(client: TestClient) -> Governance:
    g: Governance = client.app.state.governance  # type: ignore[attr-defined]
    return g


@pytest.fixture
def keys(gov: Governance) -> dict[str, dict[str, str]]:
    """Auth headers per role."""
    return {role: {"Authorization": f"Bearer {gov.keys.create(role, name=f'{role}-1').token}"}
            for role in ("reader", "analyst", "admin")}
