"""The CLI as a user meets it: one clear line and a non-zero exit for every mistake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def run(args: list[str], lake: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOUSE_") and k not in
           ("BRONZE_PATH", "SILVER_PATH", "GOLD_PATH", "LOGS_DIR")}
    env["LAKEHOUSE_BASE_PATH"] = str(lake)
    env["COLUMNS"] = "200"
    return subprocess.run([sys.executable, "-m", "lakehouse.cli.main", *args], env=env, capture_output=True, text=True)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["history", "gold.user_segment"], "unknown table 'gold.user_segment'"),
        (["history", "gold.user_segments"], "has not been built yet"),
        (["transform", "--layer", "platinum"], "unknown layer 'platinum'"),
        (["ingest", "--only", "nope"], "unknown source 'nope'"),
        (["ingest", "--source", "ftp"], "unknown ingest source 'ftp'"),
        (["simulate", "--events", "0"], "--events must be positive"),
        (["tables", "--layer", "x"], "unknown layer 'x'"),
    ],
)
def test_user_mistakes_get_one_line_and_exit_1(args: list[str], message: str, tmp_path: Path) -> None:
    p = run(args, tmp_path / "lake")
    assert p.returncode == 1
    assert message in p.stderr
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_unknown_option_is_a_usage_error(tmp_path: Path) -> None:
    p = run(["ingest", "--no-such-flag"], tmp_path / "lake")
    assert p.returncode == 2 and "No such option" in p.stderr and "Traceback" not in p.stderr


def test_landing_path_that_is_a_file(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    (lake / "landing").mkdir(parents=True)
    (lake / "landing" / "app_events").write_text("not a folder")
    p = run(["ingest"], lake)
    assert p.returncode == 1 and "is not a directory" in p.stderr and "Traceback" not in p.stderr


def test_unwritable_lake_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    p = run(["simulate", "--events", "1000"], blocker / "lake")  # a path under a regular file
    assert p.returncode == 1 and "cannot use" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    p = run(["--debug", "history", "nope.nope"], tmp_path / "lake")
    assert p.returncode != 0 and "Traceback" in p.stderr


def test_simulate_ingest_transform_json_reports(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    sim = json.loads(run(["simulate", "--events", "3000", "--days", "1", "--json"], lake).stdout)
    ing = json.loads(run(["ingest", "--json"], lake).stdout)
    assert ing["received"] == sim["records"] and ing["balanced"] is True
    reports = json.loads(run(["transform", "--json"], lake).stdout)
    assert [r["job"] for r in reports] == ["transform.silver", "transform.gold"]
    assert all(r["status"] == "success" for r in reports)
    logs = sorted(p.name for p in (lake / "logs").glob("*.json"))
    assert any(n.startswith("ingest_") for n in logs) and any(n.startswith("transform_gold_") for n in logs)
    report = json.loads(next((lake / "logs").glob("ingest_*.json")).read_text())
    assert {"started_at", "ended_at", "duration_s", "tables", "status"} <= set(report)
    listing = run(["tables"], lake)
    assert listing.returncode == 0 and "gold.user_segments" in listing.stdout
