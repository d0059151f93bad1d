from __future__ import annotations

from fastapi.testclient import TestClient

from lakehouse.api.app import create_app
from lakehouse.config import ApiSettings, Settings


def test_missing_and_wrong_keys_are_401(client: TestClient) -> None:
    r = client.get("/tables")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
    assert r.headers["www-authenticate"] == "Bearer"
    assert client.get("/tables", headers={"X-API-Key": "lh_nope"}).status_code == 401


def test_x_api_key_header_works(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    token = keys["reader"]["Authorization"].removeprefix("Bearer ")
    assert client.get("/tables", headers={"X-API-Key": token}).status_code == 200


def test_roles(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    reader, analyst, admin = keys["reader"], keys["analyst"], keys["admin"]
    assert client.get("/tables/silver.users", headers=reader).status_code == 403
    assert client.get("/tables/bronze.app_events/preview", headers=analyst).status_code == 403
    assert client.get("/tables/bronze.app_events/preview", headers=admin).status_code == 200
    assert client.post("/query", headers=reader, json={"sql": "SELECT 1"}).status_code == 403
    # the same rules apply to tables named inside SQL
    r = client.post("/query", headers=analyst, json={"sql": "SELECT * FROM gold.user_segments JOIN bronze.app_events USING (user_id)"})
    assert r.status_code == 403 and "bronze" in r.json()["error"]["message"]
    assert client.patch("/catalog/gold.user_segments", headers=analyst, json={"owner": "x"}).status_code == 403
    assert client.get("/audit", headers=analyst).status_code == 403


def test_revoked_key_is_refused(client: TestClient, gov) -> None:  # type: ignore[no-untyped-def]
    new = gov.access.keys.create("analyst")
    h = {"Authorization": f"Bearer {new.token}"}
    assert client.get("/tables", headers=h).status_code == 200
    gov.access.keys.revoke(new.key_id)
    assert client.get("/tables", headers=h).status_code == 401


def test_every_data_request_is_audited(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    client.post("/query", headers=keys["analyst"], json={"sql": "SELECT user_id FROM gold.user_segments LIMIT 3"})
    client.get("/tables/silver.users", headers=keys["reader"])
    client.get("/tables")
    client.get("/health")
    entries = client.get("/audit", headers=keys["admin"]).json()["entries"]
    q = next(e for e in entries if e["endpoint"] == "/query")
    assert q["who"] == "analyst-1" and q["role"] == "analyst" and q["tables"] == ["gold.user_segments"]
    assert q["query"].startswith("SELECT user_id") and q["rows"] == 3 and q["status"] == 200 and q["duration_ms"] > 0
    denied = client.get("/audit", headers=keys["admin"], params={"status": 403}).json()["entries"]
    assert [e["endpoint"] for e in denied] == ["/tables/silver.users"]
    assert any(e["who"] == "unauthenticated" and e["status"] == 401 for e in entries)
    assert not any(e["endpoint"] == "/health" for e in entries)
    by_table = client.get("/audit", headers=keys["admin"], params={"table": "gold.user_segments"}).json()["entries"]
    assert [e["endpoint"] for e in by_table] == ["/query"]
    # append-only: the API has no way to change or remove audit rows
    assert client.delete("/audit", headers=keys["admin"]).status_code == 405


def test_auth_off_only_explicitly(settings: Settings) -> None:
    open_settings = settings.model_copy(update={"api": ApiSettings(auth=False)})
    with TestClient(create_app(open_settings)) as c:
        assert c.get("/tables").status_code == 200
        assert c.post("/query", json={"sql": "SELECT count(*) FROM bronze.app_events"}).json()["rows"] == [[60]]
