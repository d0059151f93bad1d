"""The health report's signals on real Delta tables, with a controlled clock."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from lakehouse.config import Settings
from lakehouse.exceptions import ConfigError
from lakehouse.metadata.store import MetadataStore
from lakehouse.ops import LakehouseHealthMonitor
from lakehouse.ops.health_report import HealthReport
from lakehouse.storage.delta import DeltaStore
from monitor_support import append, last_commit

from support import BACKENDS, backend_dsn, make_settings

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
APP = "transform:silver.app_events<-bronze.app_events"


def monitor(root: Path, metadata: MetadataStore | None = None, **monitoring: Any) -> LakehouseHealthMonitor:
    return LakehouseHealthMonitor(make_settings(root, monitoring=monitoring), metadata=metadata)


def expected_status(value: float, warn: float | None, fail: float | None) -> str:
    return "fail" if fail is not None and value > fail else "warn" if warn is not None and value > warn else "ok"


# -- staleness ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def one_table(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, datetime, MetadataStore]]:
    root = tmp_path_factory.mktemp("stale") / "lake"
    store = DeltaStore(make_settings(root))
    append(store, "bronze.app_events", 3, timestamp=T0, event_date=T0.date())
    meta = MetadataStore.open(make_settings(root).metadata_dsn)
    yield root, last_commit(store, "bronze.app_events"), meta
    meta.close()


windows = st.tuples(st.none() | st.floats(0, 5000), st.none() | st.floats(0, 5000)).map(
    lambda w: (w[0], None if w[1] is None else (w[0] or 0) + w[1])
)


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offset=st.floats(0, 20_000), window=windows)
def test_staleness_is_now_minus_the_last_commit_judged_by_its_window(
    one_table: tuple[Path, datetime, MetadataStore], offset: float, window: tuple[float | None, float | None]
) -> None:
    root, committed, meta = one_table
    warn, fail = window
    m = monitor(root, meta, staleness={"warn": warn, "fail": fail})
    now = committed + timedelta(seconds=offset)
    t = m.generate_health_report(now).table("bronze.app_events")
    waited = (now - committed).total_seconds()
    assert t.last_commit_at == committed
    assert t.staleness.value == pytest.approx(waited, abs=1e-6)
    assert t.staleness.status == expected_status(waited, warn, fail)
    assert (t.staleness.warn, t.staleness.fail) == (warn, fail)


def test_a_table_override_changes_one_threshold_and_keeps_the_rest(one_table: tuple[Path, datetime, MetadataStore]) -> None:
    root, committed, meta = one_table
    m = monitor(root, meta, tables={"bronze.app_events": {"staleness": {"warn": 60}}, "gold.*": {"staleness": {"fail": 5000}}})
    r = m.generate_health_report(committed + timedelta(seconds=120))
    t = r.table("bronze.app_events")
    assert (t.staleness.warn, t.staleness.fail, t.staleness.status) == (60, 3600, "warn")
    assert r.table("gold.user_segments").staleness.status == "unknown"  # not built: never judged
    assert (r.table("gold.user_segments").staleness.warn, r.table("gold.user_segments").staleness.fail) == (600, 5000)
    # the seed's defaults elsewhere; a quarantine's staleness is off by default
    assert (r.table("silver.app_events").staleness.warn, r.table("bronze.quarantine").staleness.warn) == (600, None)
    assert r.status == "warn"


@pytest.mark.parametrize("tables, message", [
    ({"gold.user_segmnts": {}}, "unknown table 'gold.user_segmnts'"),
    ({"glod.*": {}}, "'glod.*' matches no table"),
    ({"silver.clicks": {"time_column": "nope"}}, "silver.clicks has no column 'nope'"),
    ({"gold.*": {"staleness": {"fail": 90}}}, "warn (600.0) must not be above fail (90.0)"),
])
def test_overrides_that_name_nothing_are_configuration_errors(tmp_path: Path, tables: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        monitor(tmp_path, tables=tables)


def test_windows_from_the_environment_keep_the_unset_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_MONITORING__STALENESS__WARN", "120")
    monkeypatch.setenv("LAKEHOUSE_MONITORING__TABLES", '{"gold.*": {"delay": {"fail": null}}}')
    m = Settings().monitoring
    assert (m.staleness.warn, m.staleness.fail) == (120, 3600)
    assert m.tables["gold.*"].delay is not None and m.tables["gold.*"].delay.over(m.delay).fail is None
    with pytest.raises(ValueError, match="must not be above fail"):
        Settings(monitoring={"delay": {"warn": 7200}})


# -- data lag -------------------------------------------------------------------------------------
@hsettings(max_examples=20, deadline=None)
@given(events=st.lists(st.integers(-86_400, 86_400), min_size=1, max_size=6), at=st.integers(0, 200_000))
def test_data_lag_is_now_minus_the_newest_event_time_from_file_statistics(events: list[int], at: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "lake"
        store = DeltaStore(make_settings(root))
        times = [T0 + timedelta(seconds=s) for s in events]
        append(store, "bronze.app_events", len(times), timestamp=times, event_date=[t.date() for t in times])
        m = monitor(root, _SHARED.get(), data_lag={"warn": 3600, "fail": 86_400})
        m.store.dataset = _no_scans  # type: ignore[method-assign]  # statistics only: reading rows is a bug
        now = T0 + timedelta(seconds=at)
        t = m.generate_health_report(now).table("bronze.app_events")
        newest = max(times)
        assert t.newest_event_at == newest
        if (newest - now).total_seconds() > 300:  # further in the future than the clock skew allowed
            assert t.data_lag.status == "unknown" and "in the future" in (t.data_lag.note or "")
        else:
            lag = max(0.0, (now - newest).total_seconds())
            assert t.data_lag.value == pytest.approx(lag)
            assert t.data_lag.status == expected_status(lag, 3600, 86_400)


class _Shared:
    """One metadata store for the examples of a property (opening one runs Alembic: slow)."""

    store: MetadataStore | None = None

    def get(self) -> MetadataStore:
        if self.store is None:
            self.store = MetadataStore.open(f"sqlite:///{tempfile.mkdtemp()}/metadata.db")
        return self.store


_SHARED = _Shared()


def _no_scans(*_a: Any, **_k: Any) -> Any:
    raise AssertionError("the health report read table data")


@pytest.mark.parametrize("days_before, lag_h", [(0, 0.0), (1, 10.0), (3, 58.0)])
def test_a_date_column_is_late_only_once_its_day_is_over(tmp_path: Path, days_before: int, lag_h: float) -> None:
    store = DeltaStore(make_settings(tmp_path))
    now = T0  # 10:00 UTC
    day = now.date() - timedelta(days=days_before)
    append(store, "silver.clicks", 2, click_id=["a", "b"], event_date=day)
    t = monitor(tmp_path).generate_health_report(now).table("silver.clicks")
    assert t.time_column == "event_date"  # the contract's event date (a partition: from the log)
    assert t.data_lag.value == pytest.approx(lag_h * 3600)
    assert "is a date" in (t.data_lag.note or "")


def test_time_column_override_and_undeclared_columns(tmp_path: Path) -> None:
    store = DeltaStore(make_settings(tmp_path))
    append(store, "silver.clicks", 1, click_id="a", click_timestamp=T0, event_date=date(2026, 2, 1))
    m = monitor(tmp_path, tables={"silver.clicks": {"time_column": "click_timestamp"}})
    t = m.generate_health_report(T0 + timedelta(minutes=5)).table("silver.clicks")
    assert (t.time_column, t.data_lag.value) == ("click_timestamp", 300.0)
    g = m.generate_health_report(T0).table("gold.user_segments")
    assert g.data_lag.status == "unknown"


# -- layer delay ----------------------------------------------------------------------------------
def test_layer_delay_in_versions_and_time_from_the_models_markers(tmp_path: Path) -> None:
    store = DeltaStore(make_settings(tmp_path))
    append(store, "bronze.app_events", 2, timestamp=T0, event_date=T0.date())  # v0
    append(store, "silver.app_events", 2, event_id=["a", "b"], event_date=T0.date(), txns={APP: 0})
    append(store, "bronze.app_events", 2, timestamp=T0, event_date=T0.date())  # v1
    first_new = last_commit(store, "bronze.app_events")
    append(store, "bronze.app_events", 2, timestamp=T0, event_date=T0.date())  # v2
    store.optimize("bronze.app_events")  # v3: rearranges files, no new data
    m = monitor(tmp_path, delay={"warn": 60, "fail": 600}, delay_versions={"warn": 2})

    def delay(now: datetime) -> Any:
        return next(i for i in m.generate_health_report(now).table("silver.app_events").inputs
                    if i.input == "bronze.app_events")

    now = first_new + timedelta(seconds=100)
    d = delay(now)
    assert (d.consumed_version, d.input_version, d.versions.value, d.versions.status) == (0, 3, 3, "warn")
    assert d.seconds.value == pytest.approx(100.0, abs=1e-3)
    assert d.seconds.status == "warn"
    assert delay(first_new + timedelta(seconds=601)).seconds.status == "fail"
    store.record("silver.app_events", {APP: 2})  # consumed v2: only the OPTIMIZE is pending
    d = delay(now)
    assert (d.versions.value, d.seconds.value, d.seconds.note) == (1, 0.0, "only maintenance commits pending")
    store.record("silver.app_events", {APP: 3})
    d = delay(now)
    assert (d.versions.value, d.seconds.value, d.status) == (0, 0.0, "ok")


def test_an_input_never_consumed_is_behind_by_all_of_it(tmp_path: Path) -> None:
    store = DeltaStore(make_settings(tmp_path))
    append(store, "bronze.clickstream", 1, timestamp=T0, event_date=T0.date())
    created = last_commit(store, "bronze.clickstream")
    append(store, "bronze.clickstream", 1, timestamp=T0, event_date=T0.date())
    append(store, "silver.clicks", 1, click_id="a", event_date=T0.date())  # no marker
    r = monitor(tmp_path).generate_health_report(created + timedelta(hours=2))
    d = r.table("silver.clicks").inputs[0]
    assert (d.input, d.consumed_version, d.versions.value, d.versions.note) == ("bronze.clickstream", None, 2, "never consumed")
    assert d.seconds.value == pytest.approx(7200, abs=1e-3) and d.seconds.status == "fail"


def test_a_lake_built_by_the_pipeline_is_caught_up(built_lake: Any, tmp_path: Path) -> None:
    import sqlite3

    from lakehouse.pipeline.registry import load_models

    # the shared lake is read-only: the monitor records size samples into a copy of its metadata
    db = tmp_path / "metadata.db"
    with sqlite3.connect(built_lake.settings.base_path / "metadata.db") as src, sqlite3.connect(db) as dst:
        src.backup(dst)
    m = LakehouseHealthMonitor(built_lake.settings, metadata=MetadataStore.open(f"sqlite:///{db}"))
    r = m.generate_health_report()
    for model in load_models():
        t = r.table(model.table.fqn)
        assert t.exists, t.table
        assert sorted(i.input for i in t.inputs) == sorted(d.fqn for d in model.depends_on)
        assert all((i.versions.value, i.seconds.value) == (0, 0.0) for i in t.inputs), t.table
    assert {j.job for j in r.jobs} >= {"ingest", "transform.silver", "transform.gold"}, r.notes
    assert all(j.last_status == "success" and j.failed_runs == 0 for j in r.jobs)


# -- what a report costs ------------------------------------------------------------------------------
@pytest.fixture(params=BACKENDS)
def counted(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[LakehouseHealthMonitor, list[str]]]:
    import sqlalchemy as sa

    store = DeltaStore(make_settings(tmp_path))
    append(store, "bronze.app_events", 2, timestamp=T0, event_date=T0.date())
    meta = MetadataStore.open(backend_dsn(request.param, tmp_path))
    m = monitor(tmp_path, meta)
    statements: list[str] = []
    sa.event.listen(m.metadata.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    yield m, statements
    meta.close()


def test_metadata_queries_do_not_grow_with_the_history(counted: tuple[LakehouseHealthMonitor, list[str]]) -> None:
    from monitor_support import add_check, add_run

    m, statements = counted
    meta = m._metadata_store
    assert isinstance(meta, MetadataStore)

    def cost() -> int:
        statements.clear()
        m.generate_health_report(T0)
        return len([s for s in statements if "table_size_samples" not in s or s.lstrip().upper().startswith("SELECT")])

    add_run(meta, "ingest", "success", T0)
    add_check(meta, "silver.app_events", "schema", "pass")
    small = cost()
    for i in range(600):
        add_run(meta, "ingest" if i % 2 else "transform.silver", "failed" if i % 7 == 0 else "success",
                T0 - timedelta(minutes=i))
        add_check(meta, "silver.app_events", "schema", "pass")
    assert cost() == small  # one statement per kind of question, never one per run


def test_an_unchanged_lake_is_not_read_again(counted: tuple[LakehouseHealthMonitor, list[str]]) -> None:
    m, _ = counted
    calls: list[str] = []
    real = m.store.snapshot

    def counting(table: Any, version: int | None = None) -> Any:
        calls.append(str(table))
        return real(table, version)

    m.store.snapshot = counting  # type: ignore[method-assign]
    m.generate_health_report(T0)
    assert calls == ["bronze.app_events"]
    m.generate_health_report(T0 + timedelta(minutes=1))
    assert calls == ["bronze.app_events"]  # same version: facts from the cache
    append(m.store, "bronze.app_events", 1, timestamp=T0, event_date=T0.date())
    m.generate_health_report(T0 + timedelta(minutes=2))
    assert calls == ["bronze.app_events", "bronze.app_events"]


def test_the_report_is_json_ready_and_says_its_status(one_table: tuple[Path, datetime, MetadataStore]) -> None:
    import json

    root, committed, meta = one_table
    r: HealthReport = monitor(root, meta).generate_health_report(committed + timedelta(hours=2))
    d = json.loads(json.dumps(r.to_dict()))
    t = next(x for x in d["tables"] if x["table"] == "bronze.app_events")
    assert (d["status"], t["status"], t["staleness"]["status"], t["staleness"]["fail"]) == ("fail", "fail", "fail", 3600.0)
    assert d["generated_at"].startswith("2026-") and d["kafka"]["state"] == "off"


def test_the_seeds_api_works_from_the_package(one_table: tuple[Path, datetime, MetadataStore],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from lakehouse import LakehouseHealthMonitor as Seed

    from support import lake_env

    root, _, _ = one_table
    for k, v in lake_env(make_settings(root)).items():
        if k.startswith("LAKEHOUSE_"):
            monkeypatch.setenv(k, v)
    for k in ("BRONZE_PATH", "SILVER_PATH", "GOLD_PATH", "LOGS_DIR"):
        monkeypatch.delenv(k, raising=False)
    report = Seed().generate_health_report()
    assert report.table("bronze.app_events").exists and report.table("bronze.app_events").rows == 3


def test_a_corrupt_log_hides_that_table_only(tmp_path: Path) -> None:
    store = DeltaStore(make_settings(tmp_path))
    append(store, "bronze.app_events", 1, timestamp=T0, event_date=T0.date())
    append(store, "bronze.clickstream", 1, timestamp=T0, event_date=T0.date())
    append(store, "bronze.clickstream", 1, timestamp=T0, event_date=T0.date())
    log = store.path("bronze.clickstream") / "_delta_log"
    (log / "00000000000000000001.json").write_text('{"add": {"path": garbage')
    r = monitor(tmp_path).generate_health_report(T0)
    broken = r.table("bronze.clickstream")
    assert not broken.exists and broken.error and broken.status == "unknown"
    assert r.table("bronze.app_events").exists and r.table("bronze.app_events").rows == 1
    clicks = r.table("silver.clicks")
    assert not clicks.exists  # not built; its input being unreadable does not fail the report either


def test_an_unreachable_metadata_store_is_a_note_not_a_failure(tmp_path: Path) -> None:
    import time

    from monitor_support import free_port

    append(DeltaStore(make_settings(tmp_path)), "bronze.app_events", 1, timestamp=T0, event_date=T0.date())
    dead = f"postgresql+psycopg://nobody:x@127.0.0.1:{free_port()}/nothing"
    m = LakehouseHealthMonitor(make_settings(tmp_path, metadata_url=dead))
    t0 = time.monotonic()
    r = m.generate_health_report(T0)
    assert time.monotonic() - t0 < 10
    assert len([n for n in r.notes if n.startswith("metadata store unavailable")]) == 1
    assert r.jobs == () and r.table("bronze.app_events").rows == 1
