"""Property test over the app's own OpenAPI schema: no input, with a key of any role or none,
produces a 5xx.

The app serves a lake built by the real pipeline (simulate → ingest → transform) in a temp dir,
built at import because schemathesis generates one test per operation from the loaded schema.
Path parameters that name a table (`{name}`, `{table}`) are pinned to the lake's real tables
(plus a few wrong spellings) and `{run_id}` to its real runs, so the fuzz reaches the code behind
them instead of stopping at "unknown table"; query parameters stay free.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from lakehouse.api.app import create_app
from lakehouse.config import ApiSettings
from lakehouse.contract import REGISTRY
from lakehouse.service import Lakehouse

from .conftest import build_pipeline_lake

KNOWN = tuple(REGISTRY.ids())


_BASE = Path(tempfile.mkdtemp(prefix="lakehouse-fuzz-"))
_SETTINGS = build_pipeline_lake(_BASE / "lake", events=2000,
                                api=ApiSettings(query_timeout_s=2.0, worker_memory_mb=512, result_max_mb=2))
APP = create_app(_SETTINGS)
GOV: Lakehouse = APP.state.lakehouse
KEYS: list[dict[str, str]] = [{}] + [{"Authorization": f"Bearer {GOV.access.keys.create(role).token}"}
                                     for role in ("reader", "analyst", "admin")]
TABLES = [t.fqn for t in KNOWN] + [f"{t.name}_{t.layer}" for t in KNOWN[:4]] + ["gold.nope", "silver.user"]
RUNS = [r["run_id"] for r in GOV.catalog.runs(limit=100)] + ["nope"]


def _pin(spec: dict[str, Any]) -> None:
    for ops in spec["paths"].values():
        for op in ops.values():
            for p in op.get("parameters", []):
                if p.get("in") != "path":
                    continue
                if p["name"] in ("name", "table"):
                    p["schema"] = {"type": "string", "enum": TABLES}
                elif p["name"] == "run_id":
                    p["schema"] = {"type": "string", "enum": RUNS}


_pin(APP.openapi())  # the app serves this (cached) schema from /openapi.json
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def _cleanup() -> Iterator[None]:
    yield
    GOV.close()
    shutil.rmtree(_BASE, ignore_errors=True)


def test_path_parameters_are_pinned_to_real_tables() -> None:
    spec = APP.openapi()
    preview = spec["paths"]["/tables/{name}/preview"]["get"]["parameters"]
    assert next(p for p in preview if p["name"] == "name")["schema"]["enum"] == TABLES
    assert all(GOV.store.exists(t) for t in KNOWN)  # every table exists: the pipeline built them


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_gives_a_server_error(case: schemathesis.Case) -> None:
    for headers in KEYS:
        case.call_and_validate(headers=headers, checks=[not_a_server_error])
