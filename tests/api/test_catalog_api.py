from __future__ import annotations

from fastapi.testclient import TestClient

from lakehouse.reports import RunReport


def test_catalog_search_and_patch(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    admin = keys["admin"]
    pii = client.get("/catalog", headers=admin, params={"tag": "pii"}).json()["entries"]
    assert "silver.users" in [e["table"] for e in pii]
    r = client.patch("/catalog/user_segments_gold", headers=admin, json={
        "owner": "growth", "description": "Segments for CRM", "tags": ["gold", "crm"], "retention_days": 30,
        "column_descriptions": {"segment": "CRM bucket"},
    })
    assert r.status_code == 200 and r.json()["table"] == "gold.user_segments" and r.json()["owner"] == "growth"
    found = client.get("/catalog", headers=keys["reader"], params={"q": "crm", "owner": "growth"}).json()["entries"]
    assert [e["table"] for e in found] == ["gold.user_segments"] and found[0]["exists"] is True
    desc = client.get("/tables/gold.user_segments", headers=admin).json()
    assert desc["retention_days"] == 30 and next(c for c in desc["columns"] if c["name"] == "segment")["description"] == "CRM bucket"
    assert client.get("/catalog", headers=keys["reader"], params={"layer": "silver"}).json()["entries"] == []
    assert client.patch("/catalog/gold.user_segments", headers=admin, json={"bogus": 1}).status_code == 422
    assert client.patch("/catalog/gold.nope", headers=admin, json={"owner": "x"}).status_code == 404


def test_runs_endpoints(client: TestClient, keys: dict[str, dict[str, str]], gov) -> None:  # type: ignore[no-untyped-def]
    report = RunReport(job="transform.silver")
    report.table("silver.users").rows_out = 60
    gov.catalog.record_run(report.finish())
    runs = client.get("/runs", headers=keys["reader"]).json()["runs"]
    assert [r["run_id"] for r in runs] == [report.run_id]
    one = client.get(f"/runs/{report.run_id}", headers=keys["analyst"]).json()
    assert one["status"] == "success" and one["tables"][0]["rows_out"] == 60
    # a reader sees the run, not the figures of a silver table it may not read
    assert client.get(f"/runs/{report.run_id}", headers=keys["reader"]).json()["tables"] == []
    # Times carry their UTC offset on every backend (SQLite drops it when storing).
    from datetime import datetime

    started = datetime.fromisoformat(one["started_at"])
    assert started.utcoffset() is not None
    assert started == datetime.fromisoformat(report.started_at)
    missing = client.get("/runs/nope", headers=keys["reader"])
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "run_not_found"


def test_lineage_endpoint_without_models(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    r = client.get("/catalog/lineage/gold.user_segments", headers=keys["reader"])
    assert r.status_code == 200 and r.json()["table"] == "gold.user_segments"
    assert client.get("/catalog/lineage/silver.users", headers=keys["reader"]).status_code == 403
