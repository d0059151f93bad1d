"""GET /quality and GET /tables/{name}/quality on a lake built by the real pipeline."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_overview_lists_what_the_role_may_read(pipeline_client: TestClient, pipeline_keys: dict[str, dict[str, str]]) -> None:
    admin = pipeline_client.get("/quality", headers=pipeline_keys["admin"]).json()["tables"]
    names = {t["table"] for t in admin}
    assert {"silver.app_events", "gold.user_segments", "gold.daily_summary"} <= names
    for t in admin:
        assert t["status"] in ("passing", "warning", "failing") and 0 <= t["score"] <= 100
        assert set(t["checks"]) == {"pass", "warn", "fail", "error"}
    reader = pipeline_client.get("/quality", headers=pipeline_keys["reader"]).json()["tables"]
    assert reader and all(t["table"].startswith("gold.") for t in reader)
    gold_only = pipeline_client.get("/quality", params={"layer": "gold"}, headers=pipeline_keys["admin"]).json()
    assert {t["table"] for t in gold_only["tables"]} == {t for t in names if t.startswith("gold.")}
    assert pipeline_client.get("/quality").status_code == 401


def test_a_tables_checks_and_history(pipeline_client: TestClient, pipeline_keys: dict[str, dict[str, str]]) -> None:
    body = pipeline_client.get("/tables/app_events_silver/quality", headers=pipeline_keys["analyst"]).json()
    assert body["table"] == "silver.app_events"
    checks = {c["check"]: c for c in body["checks"]}
    assert {"schema", "event_type_in_set", "timestamp_not_in_future"} <= set(checks)
    assert all(c["rows_checked"] > 0 for c in checks.values() if c["kind"] != "Schema")
    history = pipeline_client.get("/tables/silver.app_events/quality", params={"history": "true", "runs": 5},
                                  headers=pipeline_keys["analyst"]).json()
    assert history["table"] == "silver.app_events" and 1 <= len(history["history"]) <= 5
    assert history["history"][0]["run_id"] == body["run_id"]
    one = pipeline_client.get("/tables/silver.app_events/quality",
                              params={"history": "true", "check": "event_type_in_set"}, headers=pipeline_keys["analyst"])
    assert all(len(h["checks"]) == 1 for h in one.json()["history"])


def test_quality_follows_the_roles(pipeline_client: TestClient, pipeline_keys: dict[str, dict[str, str]]) -> None:
    assert pipeline_client.get("/tables/silver.app_events/quality", headers=pipeline_keys["reader"]).status_code == 403
    assert pipeline_client.get("/tables/bronze.app_events/quality", headers=pipeline_keys["analyst"]).status_code == 403
    gone = pipeline_client.get("/tables/gold.nope/quality", headers=pipeline_keys["admin"])
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "table_not_found"
    none_yet = pipeline_client.get("/tables/bronze.app_events/quality", headers=pipeline_keys["admin"])
    assert none_yet.status_code == 404 and none_yet.json()["error"]["code"] == "no_quality_results"


def test_describe_shows_the_quality_status(pipeline_client: TestClient, pipeline_keys: dict[str, dict[str, str]]) -> None:
    body = pipeline_client.get("/tables/gold.user_segments", headers=pipeline_keys["reader"]).json()
    assert body["quality"]["status"] in ("passing", "warning") and "score" in body["quality"]
    assert all("sample" not in c for c in body["quality"]["checks"])
