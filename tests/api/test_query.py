from __future__ import annotations

import io

import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from fastapi.testclient import TestClient

SQL = "SELECT segment, count(*) AS users FROM gold.user_segments GROUP BY segment ORDER BY segment"


def test_query_json(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    r = client.post("/query", headers=keys["analyst"], json={"sql": SQL})
    body = r.json()
    assert r.status_code == 200
    assert [c["name"] for c in body["columns"]] == ["segment", "users"]
    assert sum(row[1] for row in body["rows"]) == 120 and body["row_count"] == len(body["rows"])
    assert body["truncated"] is False and body["elapsed_ms"] >= 0


def test_query_limit_truncates(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    body = client.post("/query", headers=keys["analyst"], json={"sql": "SELECT * FROM silver.users", "limit": 5}).json()
    assert body["row_count"] == 5 and body["truncated"] is True


def test_query_formats_by_accept(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    h = keys["analyst"]
    csv = client.post("/query", headers={**h, "Accept": "text/csv"}, json={"sql": SQL})
    assert csv.headers["content-type"].startswith("text/csv") and csv.text.splitlines()[0] == '"segment","users"'
    arrow = client.post("/query", headers={**h, "Accept": "application/vnd.apache.arrow.stream"}, json={"sql": SQL})
    assert ipc.open_stream(arrow.content).read_all().column("users").to_pylist()
    parquet = client.post("/query", headers={**h, "Accept": "application/vnd.apache.parquet"}, json={"sql": SQL})
    assert pq.read_table(io.BytesIO(parquet.content)).num_rows == 5


def test_query_refusals_are_400_with_position(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    h = keys["admin"]
    r = client.post("/query", headers=h, json={"sql": "SELECT * FRM gold.user_segments"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_query" and "position" in r.json()["error"]["details"]
    r = client.post("/query", headers=h, json={"sql": "SELECT * FROM read_csv('/etc/passwd')"})
    assert r.status_code == 400 and "read_csv" in r.json()["error"]["message"]
    r = client.post("/query", headers=h, json={"sql": "DROP TABLE gold.user_segments"})
    assert r.status_code == 400


def test_query_unknown_and_unbuilt_tables_are_404(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    r = client.post("/query", headers=keys["admin"], json={"sql": "SELECT * FROM gold.user_segmnts"})
    assert r.status_code == 404 and "gold.user_segments" in r.json()["error"]["details"]["suggestions"]
    r = client.post("/query", headers=keys["admin"], json={"sql": "SELECT * FROM gold.daily_summary"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "table_not_built"


def test_query_timeout_is_408(client: TestClient, keys: dict[str, dict[str, str]], gov) -> None:  # type: ignore[no-untyped-def]
    gov.settings.api.query_timeout_s = 0.2
    sql = "SELECT count(*) FROM silver.users a, silver.users b, silver.users c, silver.users d, silver.users e, silver.users f"
    r = client.post("/query", headers=keys["admin"], json={"sql": sql})
    assert r.status_code == 408 and r.json()["error"]["code"] == "query_timeout"
