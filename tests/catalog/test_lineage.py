from __future__ import annotations

import json
from pathlib import Path

import pytest

from lakehouse.access import ANONYMOUS_ADMIN
from lakehouse.catalog.lineage import ColumnEdge, model_lineage
from lakehouse.config import Settings
from lakehouse.contract import REGISTRY, TableId
from lakehouse.pipeline import registry
from lakehouse.pipeline.registry import Model
from lakehouse.query.sample import build_sample_lake
from lakehouse.reports import RunReport
from lakehouse.service import Lakehouse
from lakehouse.storage.delta import DeltaStore

SEGMENTS_SQL = """-- kind: full
WITH ev AS (
  SELECT user_id, event_type, event_ts,
         row_number() OVER (PARTITION BY event_id ORDER BY _ingested_at) AS rn
  FROM silver.app_events
  WHERE is_valid
  QUALIFY rn = 1
)
SELECT ev.user_id, count(*) AS total_events, max(u.email) AS email,
       date_trunc('hour', ev.event_ts) AS last_hour,
       CASE WHEN count(*) > 10 THEN 'VIP' ELSE 'Casual' END AS segment
FROM ev JOIN silver.users u ON u.user_id = ev.user_id
GROUP BY ALL
"""
USERS_SQL = "SELECT user_id, email, first_seen FROM bronze.cdc_changes"


def test_column_lineage_without_built_tables() -> None:
    ml = model_lineage(TableId("gold", "user_segments"), SEGMENTS_SQL)
    assert ml.upstream == ["silver.app_events", "silver.users"]
    assert ColumnEdge("silver.app_events", "user_id", "gold.user_segments", "user_id") in ml.columns
    assert ColumnEdge("silver.users", "email", "gold.user_segments", "email") in ml.columns
    assert ColumnEdge("silver.app_events", "event_ts", "gold.user_segments", "last_hour") in ml.columns
    assert "total_events" in ml.untraced  # count(*) reads rows, not a column


def test_select_star_uses_the_delta_schema() -> None:
    ml = model_lineage(TableId("gold", "daily_summary"), "SELECT * FROM silver.users WHERE is_active",
                       lambda t: ["user_id", "email", "is_active"] if t == TableId("silver", "users") else None)
    assert {e.target_column for e in ml.columns} == {"user_id", "email", "is_active"}


@pytest.fixture
def gov(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Lakehouse:
    def model(t: TableId, sql: str) -> Model:
        return Model(REGISTRY.get(t), sql, registry.dependencies(t, sql))

    models = (model(TableId("silver", "users"), USERS_SQL), model(TableId("gold", "user_segments"), SEGMENTS_SQL))
    monkeypatch.setattr(registry, "load_models", lambda: models)
    settings = Settings(base_path=tmp_path / "lake")
    store = DeltaStore(settings)
    build_sample_lake(store, rows=20)
    return Lakehouse(settings)


def test_governance_lineage_with_runs(gov: Lakehouse) -> None:
    report = RunReport(job="transform.gold")
    report.table("gold.user_segments").version_after = 1
    gov.catalog.record_run(report.finish())
    got = gov.catalog.lineage("user_segments_gold", ANONYMOUS_ADMIN)
    assert got["upstream"] == ["silver.app_events", "silver.users"] and got["downstream"] == []
    assert {"source": "silver.users", "source_column": "email", "target": "gold.user_segments", "target_column": "email"} in got["columns"]
    assert [r["run_id"] for r in got["runs"]] == [report.run_id]
    users = gov.catalog.lineage("silver.users", ANONYMOUS_ADMIN)
    assert users["upstream"] == ["bronze.cdc_changes"] and users["downstream"] == ["gold.user_segments"]
    assert any(e["target_column"] == "email" for e in users["downstream_columns"])
    assert len(gov.metadata.lineage_edges()) > 3  # persisted in the metadata store


def test_openlineage_events_to_file(gov: Lakehouse) -> None:
    ok = RunReport(job="transform.gold")
    ok.table("gold.user_segments").version_before, ok.table("gold.user_segments").version_after = 0, 1
    failed = RunReport(job="transform.gold")
    failed.table("gold.user_segments")
    assert gov.catalog.emit_lineage(ok.finish()) == 2
    assert gov.catalog.emit_lineage(failed.finish("failed", "boom")) == 2
    lines = [json.loads(x) for x in (gov.settings.logs_path / "openlineage.ndjson").read_text().splitlines()]
    assert [e["eventType"] for e in lines] == ["START", "COMPLETE", "START", "FAIL"]
    complete = lines[1]
    assert complete["run"]["runId"] == lines[0]["runId"] if "runId" in lines[0] else complete["run"]["runId"] == lines[0]["run"]["runId"]
    assert [i["name"] for i in complete["inputs"]] == ["silver.app_events", "silver.users"]
    out = complete["outputs"][0]
    assert out["name"] == "gold.user_segments"
    assert out["facets"]["version"]["datasetVersion"] == "1"
    assert "email" in [f["name"] for f in out["facets"]["schema"]["fields"]]
    assert out["facets"]["columnLineage"]["fields"]["email"]["inputFields"][0]["name"] == "silver.users"
    assert lines[3]["run"]["facets"]["errorMessage"]["message"] == "boom"
