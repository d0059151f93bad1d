"""Property test over the app's own OpenAPI schema: no input may produce a 5xx.

The app (over a small sample lake in a temp dir) is built at import because schemathesis
generates one test per operation from the loaded schema.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from lakehouse.api.app import create_app
from lakehouse.catalog.service import Governance
from lakehouse.config import Settings
from lakehouse.query.sample import build_sample_lake
from lakehouse.storage.delta import DeltaStore

_BASE = Path(tempfile.mkdtemp(prefix="lakehouse-fuzz-"))
_SETTINGS = Settings(base_path=_BASE / "lake", duckdb_threads=1, duckdb_memory_limit="512MB")
_SETTINGS.api.query_timeout_s = 2.0
build_sample_lake(DeltaStore(_SETTINGS), rows=20)
APP = create_app(_SETTINGS)
GOV: Governance = APP.state.governance
ADMIN = {"Authorization": f"Bearer {GOV.keys.create('admin').token}"}

schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def _cleanup() -> Iterator[None]:
    yield
    GOV.close()
    shutil.rmtree(_BASE, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_gives_a_server_error(case: schemathesis.Case) -> None:
    case.call_and_validate(headers=ADMIN, checks=[not_a_server_error])
