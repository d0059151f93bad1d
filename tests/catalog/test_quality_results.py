"""Quality results are stored per run and per check, on every metadata backend, and read back
as a verdict (status, score), a history, and an overview."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakehouse.access import POLICY, Principal
from lakehouse.exceptions import PermissionDeniedError
from lakehouse.service import Lakehouse

from support import lake_env, land, make_settings

OK = {"event_id": "e", "user_id": "u1", "event_type": "click", "timestamp": "2026-03-01T10:00:00Z", "app_type": "web",
      "app_version": "1.0"}
READER = Principal("r", "reader", POLICY["reader"])


@pytest.fixture
def lake(tmp_path: Path, metadata_dsn: str) -> Iterator[Lakehouse]:
    lh = Lakehouse(make_settings(tmp_path / "lake", metadata_url=metadata_dsn))
    land(lh.settings, "app_events", "a.ndjson", [
        {**OK, "event_id": f"e{i}", "event_type": "teleport" if i < 3 else "click"} for i in range(10)])
    lh.ingest()
    lh.transform()
    yield lh
    lh.close()


def test_each_check_of_a_run_is_stored_with_its_facts(lake: Lakehouse) -> None:
    verdict = lake.catalog.quality("silver.app_events")
    assert verdict is not None and verdict["status"] == "warning"
    checks = {c["check"]: c for c in verdict["checks"]}
    bad = checks["event_type_in_set"]
    assert (bad["outcome"], bad["failing_rows"], bad["rows_checked"], bad["action"]) == ("warn", 3, 10, "warn")
    assert bad["threshold"] == "warn_if > 0" and bad["kind"] == "AcceptedValues"
    assert sorted(r["event_type"] for r in bad["sample"]) == ["teleport"] * 3
    assert bad["table_version"] is None  # the first batch was written on top of no table
    assert checks["schema"]["outcome"] == "pass"
    assert checks["event_id_user_id_event_type_event_timestamp_not_null"]["action"] == "fail"
    assert 0 < verdict["score"] < 100
    assert {c["run_id"] for c in verdict["checks"]} == {verdict["run_id"]}


def test_history_keeps_every_run_and_the_verdict_is_the_latest_batch(lake: Lakehouse) -> None:
    land(lake.settings, "app_events", "b.ndjson", [{**OK, "event_id": f"f{i}"} for i in range(5)])
    lake.ingest()
    lake.transform()
    latest = lake.catalog.quality("silver.app_events")
    assert latest is not None and latest["status"] == "passing" and latest["score"] == 100.0
    history = lake.catalog.quality_history("silver.app_events")
    assert [h["status"] for h in history] == ["passing", "warning"]
    only = lake.catalog.quality_history("silver.app_events", check="event_type_in_set")
    assert [[c["failing_rows"] for c in h["checks"]] for h in only] == [[0], [3]]
    assert "sample" not in history[0]["checks"][0]  # history is light; the latest verdict has samples
    lake.transform()  # nothing new: the table is not checked again, the verdict stands
    assert lake.catalog.quality("silver.app_events") == latest


def test_overview_lists_readable_tables_only(lake: Lakehouse) -> None:
    everything = {t["table"]: t for t in lake.catalog.quality_overview()}
    assert "silver.app_events" in everything and "gold.event_metrics" in everything
    assert everything["silver.app_events"]["checks"]["warn"] >= 1
    mine = {t["table"] for t in lake.catalog.quality_overview(READER)}
    assert mine and all(t.startswith("gold.") for t in mine)
    with pytest.raises(PermissionDeniedError):
        lake.catalog.quality("silver.app_events", READER)


def test_the_cli_shows_verdicts(lake: Lakehouse) -> None:
    env = lake_env(lake.settings, COLUMNS="120")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "lakehouse.cli.main", "quality", *args], env=env,
                              capture_output=True, text=True, timeout=120)

    overview = cli()
    assert overview.returncode == 0 and "silver.app_events" in overview.stdout and "warning" in overview.stdout
    one = cli("app_events_silver")
    assert one.returncode == 0 and "event_type_in_set" in one.stdout
    as_json = json.loads(cli("silver.app_events", "--json").stdout)
    assert as_json["status"] == "warning"
    past = json.loads(cli("silver.app_events", "--history", "--json").stdout)
    assert len(past) == 1
    missing = cli("gold.nope")
    assert missing.returncode == 1 and "unknown table" in missing.stderr
