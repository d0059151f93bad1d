"""GET /health/report hides what a role cannot read; `lakehouse health` and `lakehouse alerts` on a real lake."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from lakehouse.api.app import create_app
from lakehouse.ops.health_report import HealthReport
from lakehouse.service import Lakehouse
from monitor_support import Receiver, receiver

from support import lake_env, make_settings

START = datetime(2026, 3, 2, tzinfo=UTC)
NAME = re.compile(r"\b(bronze|silver|gold)\.[a-z_]+")


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lakehouse:
    lh = Lakehouse(make_settings(tmp_path_factory.mktemp("health-api") / "lake"))
    lh.simulate(events=3_000, days=2, start=START, seed=5)
    lh.ingest()
    lh.transform()
    return lh


@pytest.fixture(scope="module")
def client(lake: Lakehouse) -> Iterator[TestClient]:
    with TestClient(create_app(lake.settings)) as c:
        yield c


@pytest.fixture(scope="module")
def keys(client: TestClient) -> dict[str, dict[str, str]]:
    lh = client.app.state.lakehouse  # type: ignore[attr-defined]
    return {role: {"X-API-Key": lh.access.keys.create(role).token} for role in ("reader", "analyst", "admin")}


def names_in(body: Any) -> set[str]:
    return {m.group(0) for m in NAME.finditer(json.dumps(body))}


@pytest.mark.parametrize("role, layers, jobs", [
    ("reader", {"gold"}, {"transform.gold"}),
    ("analyst", {"silver", "gold"}, {"transform.silver", "transform.gold"}),
    ("admin", {"bronze", "silver", "gold"}, {"ingest", "transform.silver", "transform.gold"}),
])
def test_the_report_shows_a_role_only_the_layers_it_may_read(
    client: TestClient, keys: dict[str, dict[str, str]], role: str, layers: set[str], jobs: set[str]
) -> None:
    r = client.get("/health/report", headers=keys[role])
    assert r.status_code == 200, r.text
    body = r.json()
    assert {t["layer"] for t in body["tables"]} == layers
    assert {n.split(".")[0] for n in names_in(body)} <= layers  # not in inputs, errors or notes either
    assert {j["job"] for j in body["jobs"]} == jobs
    assert body["status"] in ("ok", "warn", "fail") and body["layers"] == [x for x in ("bronze", "silver", "gold") if x in layers]
    if role != "admin":
        assert body["kafka"]["state"] == "off"


def test_the_report_needs_a_key(client: TestClient) -> None:
    assert client.get("/health/report").status_code == 401
    assert client.get("/health/report", headers={"X-API-Key": "lh_nope"}).status_code == 401


@hsettings(max_examples=25, deadline=None)
@given(layers=st.sets(st.sampled_from(["bronze", "silver", "gold"])))
def test_any_set_of_layers_sees_nothing_outside_it(full_report: HealthReport, layers: set[str]) -> None:
    seen = full_report.visible_to(layers).to_dict()
    assert {n.split(".")[0] for n in names_in(seen)} <= layers
    assert {t["table"] for t in seen["tables"]} == {t.table for t in full_report.tables if t.layer in layers}


@pytest.fixture(scope="module")
def full_report(lake: Lakehouse) -> HealthReport:
    return lake.health_report()


# -- the CLI -------------------------------------------------------------------------------------------
def cli(lake: Lakehouse, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lakehouse.cli.main", *args], capture_output=True, text=True,
                          env={**lake_env(lake.settings), **env}, timeout=120)


def test_health_json_and_the_check_exit_code(lake: Lakehouse) -> None:
    out = cli(lake, "health", "--json")
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert {t["table"] for t in body["tables"] if t["exists"]} >= {"bronze.app_events", "gold.user_segments"}
    # every table stale beyond a zero window: --check exits 2 (fail), and the table says why
    failing = cli(lake, "health", "--check", LAKEHOUSE_MONITORING__STALENESS__WARN="0",
                  LAKEHOUSE_MONITORING__STALENESS__FAIL="0")
    assert failing.returncode == 2, failing.stderr
    assert "fail" in failing.stdout and "gold.user_segments" in failing.stdout


def test_a_misconfigured_monitor_is_one_line_not_a_traceback(lake: Lakehouse) -> None:
    out = cli(lake, "health", LAKEHOUSE_MONITORING__TABLES='{"gold.nope": {}}')
    assert out.returncode == 1
    assert out.stderr.strip().startswith("error: monitoring.tables: unknown table 'gold.nope'")
    assert "Traceback" not in out.stderr


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


def test_alerts_evaluates_once_and_notifies_the_webhook(lake: Lakehouse, hook: Receiver) -> None:
    env = {"LAKEHOUSE_MONITORING__STALENESS": '{"warn": 0, "fail": null}',
           "LAKEHOUSE_MONITORING__WEBHOOKS": json.dumps([{"url": hook.url, "name": "test"}])}
    out = cli(lake, "alerts", "--json", **env)
    assert out.returncode == 0, out.stderr
    ev = json.loads(out.stdout)
    stale = {a["labels"]["table"] for a in ev["firing"] if a["labels"]["alertname"] == "LakehouseTableStale"}
    built = {t.table.fqn for t in lake.tables()} - {"bronze.quarantine", "silver.quarantine"}
    assert stale == built
    assert {a["labels"]["table"] for a in hook.alerts("firing") if a["labels"]["alertname"] == "LakehouseTableStale"} == built
    # a second process: the state is in the metadata store, nothing is sent again
    before = len(hook.bodies)
    again = cli(lake, "alerts", **env)
    assert again.returncode == 0, again.stderr
    assert len(hook.bodies) == before and "alerts firing" in again.stdout


def test_alerts_without_a_reachable_metadata_store_is_one_line(lake: Lakehouse) -> None:
    from monitor_support import free_port

    out = cli(lake, "alerts", LAKEHOUSE_METADATA_URL=f"postgresql+psycopg://nobody:x@127.0.0.1:{free_port()}/nothing")
    assert out.returncode == 1
    assert out.stderr.startswith("error: alert state unavailable") and "Traceback" not in out.stderr
    health = cli(lake, "health", "--json", LAKEHOUSE_METADATA_URL=f"postgresql+psycopg://nobody:x@127.0.0.1:{free_port()}/x")
    assert health.returncode == 0, health.stderr
    assert any(n.startswith("metadata store unavailable") for n in json.loads(health.stdout)["notes"])


def _forms() -> list[str]:
    from lakehouse.contract import REGISTRY

    out = []
    for alias, t in REGISTRY.aliases.items():
        out += [alias, alias.upper(), f'"{t.layer}"."{t.name}"', f"{t.layer} . {t.name}"]
    return sorted(set(out))


@hsettings(max_examples=60, deadline=None)
@given(words=st.lists(st.sampled_from(_forms()) | st.sampled_from(["Binder Error:", "(", ")", ",", "x", "does not exist"]),
                      max_size=12),
       layers=st.sets(st.sampled_from(["bronze", "silver", "gold"])))
def test_error_texts_never_name_a_table_of_a_layer_the_role_cannot_read(
    full_report: HealthReport, words: list[str], layers: set[str]
) -> None:
    from dataclasses import replace

    from lakehouse.contract import REGISTRY

    text = " ".join(words)
    hostile = replace(
        full_report, notes=(text,),
        jobs=tuple(replace(j, last_error=text, layers=("gold",)) for j in full_report.jobs),
        tables=tuple(replace(t, error=text, checks=tuple(replace(c, error=text) for c in t.checks))
                     for t in full_report.tables),
    )
    seen = json.dumps(hostile.visible_to(layers).to_dict()).lower()
    for alias, t in REGISTRY.aliases.items():
        if t.layer not in layers:
            assert not re.search(rf"(?<![\w.]){re.escape(alias)}(?![\w])", seen), alias
            assert f'\\"{t.layer}\\".\\"{t.name}\\"' not in seen
    for w in words:  # names of readable layers stay as they were
        if "." in w and not w.startswith('"') and " " not in w and w.split(".")[0].lower() in layers and layers:
            assert w.lower() in seen
