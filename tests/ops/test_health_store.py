"""Signals from the metadata store (runs, quality results, size samples), on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from lakehouse.metadata.store import MetadataStore
from lakehouse.ops import LakehouseHealthMonitor
from lakehouse.storage.delta import DeltaStore
from monitor_support import add_check, add_run, append

from support import BACKENDS, backend_dsn, land, make_settings

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def meta(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataStore]:
    store = MetadataStore.open(backend_dsn(request.param, tmp_path))
    yield store
    store.close()


def monitor(tmp_path: Path, meta: MetadataStore, **monitoring: Any) -> LakehouseHealthMonitor:
    return LakehouseHealthMonitor(make_settings(tmp_path / "lake", monitoring=monitoring), metadata=meta)


runs_st = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(["success", "failed", "running"]),
              st.integers(0, 3 * 86_400)),
    min_size=1, max_size=25, unique_by=lambda r: (r[0], r[2]),
)


@hsettings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(runs=runs_st)
def test_jobs_report_their_latest_run_latest_success_and_failures_in_the_window(
    tmp_path: Path, meta: MetadataStore, runs: list[tuple[str, str, int]]
) -> None:
    tag = uuid.uuid4().hex[:6]  # the examples share one store: each uses its own job names
    for job, status, ago in runs:
        add_run(meta, f"{tag}.{job}", status, NOW - timedelta(seconds=ago), seconds=5, run_id=f"{tag}{job}{ago}",
                error="boom" if status == "failed" else None)
    m = monitor(tmp_path, meta, failed_runs_window_s=86_400, jobs={f"{tag}.a": {"warn": 3600, "fail": 86_400}})
    report = m.generate_health_report(NOW)
    got = {j.job: j for j in report.jobs if j.job.startswith(tag)}
    assert set(got) == {f"{tag}.{job}" for job, _, _ in runs}
    for name, j in got.items():
        mine = sorted([(ago, status) for job, status, ago in runs if f"{tag}.{job}" == name])
        ago, status = mine[0]  # newest first
        assert (j.last_status, j.last_started_at) == (status, NOW - timedelta(seconds=ago))
        assert j.last_error == ("boom" if status == "failed" else None)
        ok = [a for a, s in mine if s == "success"]
        assert j.last_success_at == (NOW - timedelta(seconds=ok[0] - 5) if ok else None)
        assert j.failed_runs == sum(1 for a, s in mine if s == "failed" and a <= 86_400)
        assert j.status == ("fail" if status == "failed" else {"unknown": "ok"}.get(j.success_age.status, j.success_age.status))
        if name == f"{tag}.a" and ok:
            age = max(0, ok[0] - 5)  # a run that ended after "now" is not a negative age
            assert j.success_age.value == pytest.approx(age)
            assert j.success_age.status == ("fail" if age > 86_400 else "warn" if age > 3600 else "ok")


outcomes = st.sampled_from(["pass", "warn", "fail", "error"])


@hsettings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=st.lists(st.tuples(st.sampled_from(["event_id_user_id_event_type_event_timestamp_not_null",
                                                    "app_type_app_version_complete", "schema"]),
                                   outcomes, st.integers(0, 100)), min_size=1, max_size=12))
def test_quality_is_the_latest_outcome_of_each_check_with_the_null_share(
    tmp_path: Path, meta: MetadataStore, history: list[tuple[str, str, int]]
) -> None:
    table = "silver.app_events"
    with meta.engine.begin() as conn:  # the examples share one store
        conn.exec_driver_sql("DELETE FROM quality_results")
    for check, outcome, failing in history:
        complete = check.endswith("_complete")
        add_check(meta, table, check, outcome, failing=failing, checked=100,
                  metric=100.0 - failing if complete else float(failing), kind="Completeness" if complete else "")
    store = DeltaStore(make_settings(tmp_path / "lake"))
    if not store.exists(table):
        append(store, table, 1, event_id="a", event_date=NOW.date())
    report = monitor(tmp_path, meta, nulls_pct={"warn": 5, "fail": 50}).generate_health_report(NOW)
    got = {c.check: c for c in report.table(table).checks}
    latest = {check: (outcome, failing) for check, outcome, failing in history}  # the last one wins
    assert set(got) == set(latest)
    for check, (outcome, failing) in latest.items():
        c = got[check]
        assert (c.outcome, c.failing_rows) == (outcome, failing)
        if check == "schema":
            assert c.null_pct is None
        else:  # not_null: failing / checked; completeness: 100 - the % complete
            assert c.null_pct is not None and c.null_pct.value == pytest.approx(failing)
            assert c.null_pct.status == ("fail" if failing > 50 else "warn" if failing > 5 else "ok")
        assert c.status in {"ok", "warn", "fail"}
        assert (c.status == "fail") == (outcome in ("fail", "error") or (failing > 50 and check != "schema"))


def test_results_recorded_before_outcomes_were_stored_are_judged_by_the_contract(tmp_path: Path, meta: MetadataStore) -> None:
    # rows of the old recording: outcome left at its default, only `passed` says it did not pass
    add_check(meta, "silver.app_events", "event_id_user_id_event_type_event_timestamp_not_null", "pass",
              passed=False, failing=3)
    add_check(meta, "silver.app_events", "app_type_in_set", "pass", passed=False, failing=3)
    append(DeltaStore(make_settings(tmp_path / "lake")), "silver.app_events", 1, event_id="a", event_date=NOW.date())
    got = {c.check: c.outcome for c in monitor(tmp_path, meta).generate_health_report(NOW).table("silver.app_events").checks}
    assert got == {"event_id_user_id_event_type_event_timestamp_not_null": "fail", "app_type_in_set": "warn"}


def test_growth_per_day_from_size_samples_under_a_controlled_clock(tmp_path: Path, meta: MetadataStore) -> None:
    store = DeltaStore(make_settings(tmp_path / "lake"))
    append(store, "bronze.app_events", 50, event_id=[f"e{i}" for i in range(50)], event_date=NOW.date())
    m = monitor(tmp_path, meta, growth={"warn": 1000, "fail": 10**9}, size_sample_interval_s=600, growth_min_span_s=3600)
    first = m.generate_health_report(NOW).table("bronze.app_events")
    assert first.growth.status == "unknown" and first.growth_since == NOW  # the baseline is taken now
    s0 = first.size_bytes or 0
    append(store, "bronze.app_events", 500, event_id=[f"f{i}" for i in range(500)], event_date=NOW.date())
    soon = m.generate_health_report(NOW + timedelta(minutes=30)).table("bronze.app_events")
    assert soon.growth.status == "unknown"  # 30 min is too short a span to say per day
    later = m.generate_health_report(NOW + timedelta(hours=2)).table("bronze.app_events")
    s1 = later.size_bytes or 0
    assert s1 > s0
    assert later.growth.value == pytest.approx((s1 - s0) / 7200 * 86_400)
    assert later.growth.status == "warn" and later.growth_since == NOW
    # a restart keeps the samples: a new monitor measures from the same baseline
    again = monitor(tmp_path, meta, growth={"warn": 1000}).generate_health_report(NOW + timedelta(hours=3))
    assert again.table("bronze.app_events").growth.value == pytest.approx((s1 - s0) / (3 * 3600) * 86_400)
    # after a day, the baseline moves up to the sample a day back (the 30-minute one)
    day = monitor(tmp_path, meta).generate_health_report(NOW + timedelta(hours=24, minutes=40)).table("bronze.app_events")
    assert day.growth_since == NOW + timedelta(minutes=30)
    assert day.growth.value == pytest.approx(0.0) and day.growth.status == "ok"


def test_a_real_run_records_every_field_the_monitor_reads(tmp_path: Path) -> None:
    from lakehouse.service import Lakehouse

    lh = Lakehouse(make_settings(tmp_path / "lake"))
    # app events without app_version: the completeness check (90%) warns, 100% of its rows are null
    land(lh.settings, "app_events", "a.ndjson", [
        {"event_id": f"e{i}", "user_id": "u1", "event_type": "click", "timestamp": "2026-03-01T10:00:00Z",
         "app_type": "web"} for i in range(20)])
    lh.ingest()
    silver = lh.transform()[0]
    ran = {(c.table, c.check): c for c in silver.checks}
    report = lh.health_report()
    got = {(t.table, c.check): c for t in report.tables for c in t.checks if t.layer == "silver"}
    assert set(got) == set(ran)
    for key, c in ran.items():
        assert (got[key].outcome, got[key].failing_rows, got[key].rows_checked) == (c.outcome, c.failing_rows, c.rows_checked)
    complete = got[("silver.app_events", "app_type_app_version_complete")]
    assert complete.outcome == "warn" and complete.null_pct is not None
    assert (complete.null_pct.value, complete.null_pct.status) == (100.0, "warn")


def test_a_now_with_another_offset_is_the_same_instant(tmp_path: Path, meta: MetadataStore) -> None:
    from datetime import timezone

    for ago_h in (1, 5, 30):
        add_run(meta, "ingest", "failed", NOW - timedelta(hours=ago_h))
    plus5 = timezone(timedelta(hours=5))
    utc_report = monitor(tmp_path, meta).generate_health_report(NOW)
    local_report = monitor(tmp_path, meta).generate_health_report(NOW.astimezone(plus5))
    naive_report = monitor(tmp_path, meta).generate_health_report(NOW.replace(tzinfo=None))
    assert [r.job("ingest").failed_runs for r in (utc_report, local_report, naive_report)] == [2, 2, 2]
    assert local_report.generated_at == NOW and local_report.generated_at.utcoffset() == timedelta(0)
