from __future__ import annotations

from fastapi.testclient import TestClient


def test_health(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["checks"]["metadata"]["backend"] == "sqlite" and body["checks"]["lake"]["ok"]


def test_metrics_count_requests_rows_and_freshness(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    client.get("/tables/gold.user_segments/preview", headers=keys["reader"], params={"limit": 7})
    text = client.get("/metrics").text
    assert 'lakehouse_http_requests_total{method="GET",route="/tables/{name}/preview",status="200"} 1.0' in text
    assert 'lakehouse_rows_served_total{route="/tables/{name}/preview"} 7.0' in text
    assert 'lakehouse_http_request_duration_seconds_count{method="GET",route="/tables/{name}/preview"} 1.0' in text
    assert 'lakehouse_table_freshness_seconds{table="gold.user_segments"}' in text


def test_every_error_has_one_shape(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    responses = [
        client.get("/nope"),
        client.post("/tables"),
        client.get("/tables/gold.nope", headers=keys["admin"]),
        client.get("/tables/gold.daily_summary", headers=keys["admin"]),
        client.post("/query", headers=keys["admin"], json={"sql": 42}),
        client.post("/query", headers=keys["admin"], content=b"not json"),
        client.get("/tables", headers=keys["admin"], params={"layer": "platinum"}),
    ]
    assert [r.status_code for r in responses] == [404, 405, 404, 404, 422, 422, 422]
    for r in responses:
        err = r.json()["error"]
        assert set(err) == {"code", "message", "details"} and err["message"]
    not_built = responses[3].json()["error"]
    assert not_built["code"] == "table_not_built" and "lakehouse transform" in not_built["message"]
    assert responses[2].json()["error"]["details"]["suggestions"]


def test_openapi_docs(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/tables/{name}/preview", "/query", "/catalog/lineage/{table}", "/audit", "/runs/{run_id}"} <= set(paths)
