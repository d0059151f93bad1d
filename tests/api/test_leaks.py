"""What each role may see, endpoint by endpoint, on a lake built by the real pipeline.

Below admin, no response ever contains the lake's absolute path, the engine's internal names
or wrapper SQL, or the name (any spelling) of a table in a layer the role cannot read unless
the request itself named it (a 403 says which table it refused). `docs/api.md` has the matrix.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakehouse.access import POLICY
from lakehouse.contract import REGISTRY
from lakehouse.service import Lakehouse

KNOWN = tuple(REGISTRY.ids())

ROLES = [None, "reader", "analyst"]
SQL = [
    "SELECT segment, count(*) FROM gold.user_segments GROUP BY segment",
    "SELECT nope FROM gold.user_segments",
    "SELECT * FROM gold.user_segments WHERE segment = 1 + 'x'",
    "SELECT user_id FROM gold.user_segments JOIN gold.daily_summary USING (nope)",
    "SELECT * FROM gold.user_segmnts",
    "SELECT * FROM bronze.app_event",
    "SELECT * FROM silver.user",
    "SELECT CAST(segment AS INTEGER) FROM gold.user_segments",
    "SELECT * FROM gold.user_segments, silver.users",
    "SELECT 1 FROM bronze.quarantine",
    "SELECT list_sum(generate_series(1, 2000000000))",
    "SELECT user_id FROM silver.users WHERE email = 1",
]


def _hidden(layers: frozenset[str]) -> list[str]:
    names = []
    for t in KNOWN:
        if t.layer not in layers:
            names += [t.fqn, f"{t.name}_{t.layer}", f"{t.layer}_{t.name}"]
    return names


def _requests(gov: Lakehouse) -> list[tuple[str, str, dict[str, Any] | None]]:
    out: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", "/health", None), ("GET", "/metrics", None), ("GET", "/tables", None),
        ("GET", "/catalog", None), ("GET", "/catalog?q=raw", None), ("GET", "/runs", None), ("GET", "/audit", None),
        ("GET", "/runs?limit=1000", None), ("GET", "/openapi.json", None),
    ]
    out += [("GET", f"/tables?layer={layer}", None) for layer in ("bronze", "silver", "gold")]
    for t in KNOWN:
        out += [("GET", f"/tables/{t.fqn}", None), ("GET", f"/tables/{t.fqn}/preview?limit=5", None),
                ("GET", f"/tables/{t.fqn}/history", None), ("GET", f"/catalog/lineage/{t.fqn}", None),
                ("GET", f"/tables/{t.fqn}/preview?filter=nope%20%3E%201", None)]
    out += [("GET", f"/runs/{r['run_id']}", None) for r in gov.catalog.runs(limit=100)]
    out += [("POST", "/query", {"sql": s}) for s in SQL]
    return out


@pytest.mark.parametrize("role", ROLES)
def test_no_low_role_response_leaks(pipeline_client: TestClient, pipeline_keys: dict[str, dict[str, str]],
                                    role: str | None) -> None:
    gov: Lakehouse = pipeline_client.app.state.lakehouse  # type: ignore[attr-defined]
    layers = POLICY[role].layers if role else frozenset({"gold"})
    paths = gov.access.lake_paths()
    token = gov.query.engine.token
    headers = pipeline_keys[role] if role else {}
    seen_ok = 0
    for method, url, body in _requests(gov):
        r = pipeline_client.request(method, url, headers=headers, json=body)
        assert r.status_code < 500, (url, r.text[:300])
        text = r.text
        asked = url + (str(body) if body else "")
        for p in paths:
            assert p not in text, (role, url, p)
        assert token not in text and "_q LIMIT" not in text and "AS _q" not in text, (role, url, text[:300])
        assert not re.search(r"lh[0-9a-f]{12}_", text), (role, url)
        for name in _hidden(layers):
            if name in asked:
                continue
            assert not re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", text), (role, url, name, text[:500])
        seen_ok += r.status_code == 200
    assert seen_ok > (20 if role else 2)  # the check ran over real answers, not only refusals


def test_admins_still_see_paths_runs_and_every_table(pipeline_client: TestClient,
                                                     pipeline_keys: dict[str, dict[str, str]]) -> None:
    admin = pipeline_keys["admin"]
    gov: Lakehouse = pipeline_client.app.state.lakehouse  # type: ignore[attr-defined]
    health = pipeline_client.get("/health", headers=admin).json()
    assert health["checks"]["lake"]["path"] == str(gov.settings.base_path)
    assert "path" not in pipeline_client.get("/health").json()["checks"]["lake"]
    runs = pipeline_client.get("/runs", headers=admin).json()["runs"]
    assert any(t["table"].startswith("bronze.") for r in runs for t in r["tables"])
    reader_runs = pipeline_client.get("/runs", headers=pipeline_keys["reader"]).json()["runs"]
    assert len(reader_runs) == len(runs)  # the runs are listed, their hidden parts are not
    assert {t["table"] for r in reader_runs for t in r["tables"]} <= {t.fqn for t in KNOWN if t.layer == "gold"}
    metrics = pipeline_client.get("/metrics", headers=admin).text
    assert 'table="bronze.app_events"' in metrics and 'table="bronze.app_events"' not in pipeline_client.get("/metrics").text
    lineage = pipeline_client.get("/catalog/lineage/gold.user_segments", headers=admin).json()
    assert any(u.startswith("silver.") for u in lineage["upstream"])
    reader_lineage = pipeline_client.get("/catalog/lineage/gold.user_segments", headers=pipeline_keys["reader"]).json()
    assert reader_lineage["upstream"] == [] and reader_lineage["table"] == "gold.user_segments"


@pytest.mark.parametrize("sql", SQL[1:4] + SQL[7:8])
def test_errors_show_only_the_users_own_text(pipeline_client: TestClient, pipeline_keys: dict[str, dict[str, str]],
                                             sql: str) -> None:
    r = pipeline_client.post("/query", headers=pipeline_keys["admin"], json={"sql": sql})
    assert r.status_code == 400
    msg = r.json()["error"]["message"]
    assert "LINE" not in msg and "\n" not in msg and "_q" not in msg and "__" not in msg, msg


def test_suggestions_only_name_readable_tables(pipeline_client: TestClient, pipeline_keys: dict[str, dict[str, str]]) -> None:
    r = pipeline_client.get("/tables/silver.user", headers=pipeline_keys["reader"])
    assert r.status_code == 404 and r.json()["error"]["details"]["suggestions"] == []
    r = pipeline_client.get("/tables/silver.user", headers=pipeline_keys["analyst"])
    assert "silver.users" in r.json()["error"]["details"]["suggestions"]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(col=st.from_regex(r"[a-z_][a-z0-9_]{0,20}", fullmatch=True),
       shape=st.sampled_from([
           "SELECT {c} FROM gold.user_segments",
           "SELECT s.{c} FROM gold.user_segments s JOIN gold.event_metrics m ON s.segment = m.event_type",
           "SELECT count(*) FROM gold.user_segments WHERE {c} > 1 GROUP BY nope_{c}",
           "WITH x AS (SELECT * FROM gold.user_segments) SELECT {c} + 'a' FROM x",
           "SELECT * FROM gold.user_segments ORDER BY {c}",
       ]))
def test_duckdb_errors_never_show_internal_names(pipeline_client: TestClient, pipeline_keys: dict[str, dict[str, str]],
                                                 col: str, shape: str) -> None:
    r = pipeline_client.post("/query", headers=pipeline_keys["analyst"], json={"sql": shape.format(c=col)})
    assert r.status_code < 500
    if r.status_code >= 400:
        msg = r.json()["error"]["message"]
        assert not re.search(r"lh[0-9a-f]{12}", msg) and "_src" not in msg and "LINE " not in msg, msg
        assert "gold__" not in msg and "AS _q" not in msg, msg
