"""Serving-path behaviour kept by the performance work: caches never serve an old version,
auth headers parse as before, OpenAPI still documents both key schemes, serve uses uvloop."""

from __future__ import annotations

import gc
import importlib.util

import orjson
import pyarrow as pa
from fastapi.testclient import TestClient

from lakehouse.api.app import create_app
from lakehouse.api.render import json_body
from lakehouse.cli.serve import server_options
from lakehouse.config import Settings
from lakehouse.contract import TableId
from lakehouse.query.engine import QueryResult
from lakehouse.service import Lakehouse

SEGS = TableId("gold", "user_segments")
PREVIEW = "/tables/gold.user_segments/preview"


def test_cached_preview_and_query_see_a_new_version(client: TestClient, keys: dict[str, dict[str, str]],
                                                    gov: Lakehouse) -> None:
    h = keys["admin"]
    sql = {"sql": "SELECT count(*) AS n FROM gold.user_segments"}
    first = client.get(PREVIEW, params={"limit": 1000}, headers=h).json()
    assert client.get(PREVIEW, params={"limit": 1000}, headers=h).json()["rows"] == first["rows"]  # cache hit
    assert client.post("/query", json=sql, headers=h).json()["rows"] == [[120]]
    gov.store.append(SEGS, gov.query.engine.preview(SEGS, limit=3, timeout_s=5).table)
    gov.query.engine.invalidate(SEGS)  # what the 1 s version re-check does on its own
    assert client.get(PREVIEW, params={"limit": 1000}, headers=h).json()["row_count"] == first["row_count"] + 3
    assert client.post("/query", json=sql, headers=h).json()["rows"] == [[123]]


def test_masking_applies_to_cached_previews(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    assert client.patch("/catalog/gold.user_segments", headers=keys["admin"], json={"pii_columns": ["email"]}).status_code == 200
    admin = client.get(PREVIEW, params={"columns": "email", "limit": 2}, headers=keys["admin"]).json()
    reader = client.get(PREVIEW, params={"columns": "email", "limit": 2}, headers=keys["reader"]).json()
    assert "@" in admin["rows"][0][0] and reader["rows"] == [["***"], ["***"]]
    again = client.get(PREVIEW, params={"columns": "email", "limit": 2}, headers=keys["admin"]).json()
    assert again["rows"] == admin["rows"]


def test_key_headers(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    token = keys["reader"]["Authorization"].removeprefix("Bearer ")
    assert client.get("/tables", headers={"Authorization": f"bearer {token}"}).status_code == 200
    assert client.get("/tables", headers={"X-API-Key": token, "Authorization": "Bearer nope"}).status_code == 200
    assert client.get("/tables", headers={"Authorization": f"Basic {token}"}).status_code == 401
    assert client.get("/tables", headers={"Authorization": "Bearer "}).status_code == 401


def test_openapi_documents_key_schemes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert set(spec["components"]["securitySchemes"]) == {"HTTPBearer", "APIKeyHeader"}
    assert spec["paths"]["/query"]["post"]["security"] == [{"HTTPBearer": []}, {"APIKeyHeader": []}]
    assert "security" in spec["paths"]["/tables/{name}/preview"]["get"]
    assert "security" not in spec["paths"]["/health"]["get"]


def test_json_body_is_the_documented_shape() -> None:
    table = pa.table({"a": [1, 2], "b": ["x", None]})
    result = QueryResult(table, True, 1.5, [])
    body = orjson.loads(json_body(result))
    assert body == {"columns": [{"name": "a", "type": "int64"}, {"name": "b", "type": "string"}],
                    "rows": [[1, "x"], [2, None]], "row_count": 2, "truncated": True, "elapsed_ms": 1.5}
    # the memoised part is per table object; the per-request fields are not memoised
    again = orjson.loads(json_body(QueryResult(table, False, 2.0, [])))
    assert again["truncated"] is False and again["elapsed_ms"] == 2.0
    assert orjson.loads(json_body(QueryResult(pa.table({"a": pa.array([], pa.int64())}), False, 0.0, [])))["rows"] == []


def test_freeze_gc_on_start(settings: Settings) -> None:
    try:
        with TestClient(create_app(settings, freeze_gc=True)) as c:
            assert gc.get_freeze_count() > 0
            assert c.get("/health").status_code == 200
    finally:
        gc.unfreeze()


def test_serve_prefers_uvloop_and_httptools() -> None:
    loop, http = server_options()
    assert loop == ("uvloop" if importlib.util.find_spec("uvloop") else "asyncio")
    assert http == ("httptools" if importlib.util.find_spec("httptools") else "h11")
