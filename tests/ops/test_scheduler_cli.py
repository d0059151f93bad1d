"""The schedule as people see it: `lakehouse schedule`, `schedule run`, `backfill`, GET /schedule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lakehouse.api.app import create_app
from lakehouse.config import Settings
from lakehouse.service import Lakehouse

from support import lake_env, make_settings

D = datetime(2026, 3, 1, tzinfo=UTC)


def cli(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    e = lake_env(settings, COLUMNS="200", **env)
    return subprocess.run([sys.executable, "-m", "lakehouse.cli.main", *args], env=e, capture_output=True, text=True)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lakehouse:
    lh = Lakehouse(make_settings(tmp_path_factory.mktemp("sched_cli") / "lake"))
    lh.simulate(events=2_000, days=2, start=D, seed=9)
    lh.ingest()
    return lh


def test_schedule_run_runs_a_job_and_the_listing_shows_it(lake: Lakehouse) -> None:
    p = cli(lake.settings, "schedule", "run", "silver")
    assert p.returncode == 0 and "silver: success" in p.stdout, p.stderr
    # Airflow's window: no slot of silver's hourly cron in (10:05, 10:50] -> exit 99 (skipped), nothing run.
    p = cli(lake.settings, "schedule", "run", "silver", "--due-between", "2026-03-02T10:05:00+00:00",
            "2026-03-02T10:50:00+00:00")
    assert p.returncode == 99 and "not due" in p.stderr
    p = cli(lake.settings, "schedule", "run", "gold", "--due-between", "2026-03-02T01:50:00+00:00",
            "2026-03-02T02:00:00+00:00")
    assert p.returncode == 0 and "gold: success" in p.stdout, p.stderr
    # A window without an offset is UTC: ingest's 02:00 slot lies in (01:55, 02:05].
    p = cli(lake.settings, "schedule", "run", "ingest", "--due-between", "2026-03-02T01:55", "2026-03-02 02:05")
    assert p.returncode == 0 and "ingest: success" in p.stdout, p.stderr
    p = cli(lake.settings, "schedule", "--json")
    assert p.returncode == 0, p.stderr
    status = json.loads(p.stdout)
    jobs = {j["job"]: j for j in status["jobs"]}
    assert set(jobs) == {"ingest", "silver", "gold", "retention", "optimize"}
    assert jobs["silver"]["last_run"]["status"] == "success" and jobs["silver"]["last_run"]["trigger"] == "manual"
    assert jobs["gold"]["last_run"]["slot"] == "2026-03-02T02:00:00+00:00"
    assert jobs["gold"]["last_run"]["trigger"] == "external"
    assert datetime.fromisoformat(jobs["ingest"]["next_run"]) - datetime.now(UTC) <= timedelta(minutes=10)
    assert status["scheduler"]["holder"] is None  # no scheduler running
    p = cli(lake.settings, "schedule")
    assert p.returncode == 0
    for word in ("job", "cron", "next run", "last run", "status", "0 2 * * *", "success", "never run"):
        assert word in p.stdout


@pytest.mark.parametrize(("args", "env", "message"), [
    (["schedule", "run", "bronze"], {}, "unknown job 'bronze'"),
    (["schedule", "run", "silver", "--due-between", "yesterday", "today"], {}, "is not a date"),
    (["schedule"], {"LAKEHOUSE_SCHEDULE__GOLD__CRON": "61 * * * *"}, "cron expression '61 * * * *'"),
    (["schedule"], {"LAKEHOUSE_SCHEDULE__SILVER__CRON": "every hour"}, "cron expression 'every hour'"),
    (["scheduler"], {"LAKEHOUSE_SCHEDULE__TIMEZONE": "Mars/Olympus"}, "unknown time zone"),
    (["schedule"], {"LAKEHOUSE_SCHEDULE__CATCHUP": "sometimes"}, "catchup"),
    (["backfill", "--from", "2026-03-05", "--to", "2026-03-01"], {}, "is after --to"),
    (["export", "airflow", "--command", "'/opt/lake"], {}, "--command"),
    (["export", "airflow", "--dag-id", "my dag!"], {}, "dag id 'my dag!'"),
    (["export", "airflow"], {f"LAKEHOUSE_SCHEDULE__{j}__ENABLED": "false" for j in
                             ("INGEST", "SILVER", "GOLD", "RETENTION", "OPTIMIZE")}, "every job is disabled"),
    (["backfill", "--from", "03/01/2026", "--to", "2026-03-02"], {}, "is not a date"),
    (["backfill", "--from", "2026-03-01", "--to", "2026-03-02", "--tables", "gold.nope"], {}, "unknown table"),
])
def test_mistakes_are_one_line_and_exit_1(lake: Lakehouse, args: list[str], env: dict[str, str], message: str) -> None:
    p = cli(lake.settings, *args, **env)
    assert p.returncode == 1, p.stdout + p.stderr
    assert message in p.stderr and "Traceback" not in p.stderr
    if "catchup" not in message:  # pydantic's own messages span a few lines
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_backfill_from_the_cli(lake: Lakehouse, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "lake"
    shutil.copytree(lake.settings.base_path, root)
    settings = make_settings(root)
    assert cli(settings, "transform").returncode == 0
    p = cli(settings, "backfill", "--from", "2026-03-01", "--to", "2026-03-01", "--json")
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    assert report["status"] == "success" and report["date_from"] == report["date_to"] == "2026-03-01"
    actions = {m["table"]: m["action"] for m in report["models"]}
    assert actions["silver.app_events"] == "replaced" and actions["silver.orders"] == "skipped"
    assert actions["gold.user_segments"] == "rebuilt"
    p = cli(settings, "backfill", "--from", "2026-03-01", "--to", "2026-03-02", "--tables", "gold.event_metrics")
    assert p.returncode == 0 and "gold.event_metrics" in p.stdout and "silver.app_events" not in p.stdout


@pytest.fixture
def client(lake: Lakehouse) -> Iterator[TestClient]:
    with TestClient(create_app(lake.settings)) as c:
        yield c


def test_get_schedule(client: TestClient, lake: Lakehouse) -> None:
    gov = client.app.state.lakehouse  # type: ignore[attr-defined]
    key = {"Authorization": f"Bearer {gov.access.keys.create('reader', name='r').token}"}
    r = client.get("/schedule", headers=key)
    assert r.status_code == 200
    body = r.json()
    assert [j["job"] for j in body["jobs"]] == ["ingest", "silver", "gold", "retention", "optimize"]
    assert all({"cron", "next_run", "last_run", "status"} <= set(j) for j in body["jobs"])
    assert client.get("/schedule").status_code == 401
    for bad in ("-1", "501", "many"):
        assert client.get(f"/schedule?runs={bad}", headers=key).status_code == 422
    assert len(client.get("/schedule?runs=1", headers=key).json()["runs"]) <= 1


def test_lakehouse_scheduler_is_a_command(lake: Lakehouse) -> None:
    p = cli(lake.settings, "scheduler", "--help")
    assert p.returncode == 0 and "SIGTERM" in p.stdout
    assert os.environ.get("LAKEHOUSE_SCHEDULE__CATCHUP") is None  # the tests above did not leak settings
