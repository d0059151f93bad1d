from __future__ import annotations

from fastapi.testclient import TestClient

from lakehouse.contract import REGISTRY
from lakehouse.results import CheckResult


def test_list_tables_by_role_and_layer(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    admin = client.get("/tables", headers=keys["admin"]).json()["tables"]
    assert {t["table"] for t in admin} == {"gold.user_segments", "gold.event_metrics", "silver.users", "bronze.app_events"}
    segs = next(t for t in admin if t["table"] == "gold.user_segments")
    assert segs["rows"] == 120 and segs["version"] == 1 and segs["size_bytes"] > 0 and segs["last_modified"]
    reader = client.get("/tables", headers=keys["reader"]).json()["tables"]
    assert {t["layer"] for t in reader} == {"gold"}
    silver = client.get("/tables", params={"layer": "silver"}, headers=keys["analyst"]).json()["tables"]
    assert [t["table"] for t in silver] == ["silver.users"]


def test_describe_joins_delta_facts_and_catalog(client: TestClient, keys: dict[str, dict[str, str]], gov) -> None:  # type: ignore[no-untyped-def]
    gov.catalog.record_checks([CheckResult(table="silver.users", check="not_null_email", passed=False,
                                           failing_rows=2, run_id="r1", outcome="fail")])
    body = client.get("/tables/users_silver", headers=keys["admin"]).json()
    assert body["table"] == "silver.users" and body["rows"] == 60 and body["files"] >= 1
    email = next(c for c in body["columns"] if c["name"] == "email")
    assert email["tags"] == ["pii"] and email["description"] == REGISTRY.spec("silver.users").column_index["email"].description
    assert body["owner"] == "data-engineering" and body["retention_days"] == REGISTRY.spec("silver.users").retention_days
    assert body["quality"]["status"] == "failing" and body["quality"]["checks"][0]["failing_rows"] == 2
    metrics = client.get("/tables/gold.event_metrics", headers=keys["admin"]).json()
    assert metrics["partition_columns"] == ["metric_date"]


def test_preview_limit_columns_filter_version(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    h = keys["analyst"]
    r = client.get("/tables/gold_user_segments/preview", headers=h)
    assert r.status_code == 200 and r.json()["row_count"] == 100 and r.json()["truncated"] is True
    r = client.get("/tables/gold.user_segments/preview", headers=h,
                   params={"columns": "user_id,segment", "filter": "segment = 'VIP' AND engagement_score > 90", "limit": 1000})
    body = r.json()
    assert [c["name"] for c in body["columns"]] == ["user_id", "segment"]
    assert body["row_count"] > 0 and all(row[1] == "VIP" for row in body["rows"]) and body["truncated"] is False
    v0 = client.get("/tables/gold.user_segments/preview", headers=h, params={"version": 0, "limit": 1000}).json()
    assert v0["row_count"] == 60
    assert client.get("/tables/gold.user_segments/preview", headers=h, params={"limit": 1001}).status_code == 422


def test_preview_bad_inputs_are_4xx(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    h = keys["admin"]
    bad_col = client.get("/tables/gold.user_segments/preview", headers=h, params={"columns": "nope"})
    assert bad_col.status_code == 400 and "nope" in bad_col.json()["error"]["message"]
    bad_filter = client.get("/tables/gold.user_segments/preview", headers=h, params={"filter": "1=1; DROP TABLE x"})
    assert bad_filter.status_code == 400 and bad_filter.json()["error"]["code"] == "bad_query"
    unknown_col = client.get("/tables/gold.user_segments/preview", headers=h, params={"filter": "nope > 1"})
    assert unknown_col.status_code == 400
    bad_version = client.get("/tables/gold.user_segments/preview", headers=h, params={"version": 9})
    assert bad_version.status_code == 400 and "versions 0..1" in bad_version.json()["error"]["details"]["hint"]


def test_reader_sees_pii_masked(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    patch = client.patch("/catalog/gold.user_segments", headers=keys["admin"], json={"pii_columns": ["email"]})
    assert patch.status_code == 200
    rows = client.get("/tables/gold.user_segments/preview", headers=keys["reader"], params={"columns": "email", "limit": 3}).json()["rows"]
    assert rows == [["***"]] * 3
    raw = client.get("/tables/gold.user_segments/preview", headers=keys["analyst"], params={"columns": "email", "limit": 1}).json()["rows"]
    assert raw[0][0].endswith("@example.com")


def test_history(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    h = client.get("/tables/gold.user_segments/history", headers=keys["reader"]).json()["history"]
    assert [c["version"] for c in h] == [1, 0]
