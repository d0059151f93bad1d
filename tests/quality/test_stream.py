"""The gate on a streamed full build (write-audit-publish): checked batch by batch on the way into
the commit, it must judge exactly what the staged gate judges on the whole batch, write exactly
the rows the staged gate would commit, and commit nothing when a check fails."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakehouse.contract import Column, ModelSpec, TableId, TableSpec
from lakehouse.contract.expectations import (
    Expectation,
    accepted_values,
    completeness,
    freshness,
    in_range,
    matches,
    not_null,
    predicate,
    references,
    row_count,
    unique,
)
from lakehouse.exceptions import QualityGateError
from lakehouse.pipeline.engines import DuckDBEngine
from lakehouse.pipeline.engines import duckdb as duckdb_engine
from lakehouse.pipeline.kinds import Batch
from lakehouse.pipeline.registry import Model
from lakehouse.quality import QUARANTINE, Validator
from lakehouse.storage.delta import DeltaStore

from support import make_settings

TARGET = TableId("gold", "daily_summary")  # any contract table id; the spec is the test's own

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
COLUMNS = (
    Column("id", "string", "key"), Column("kind", "string", "a label"),
    Column("amount", "double", "a measure"), Column("ts", "timestamp", "event time"),
)


def model_with(columns: tuple[Column, ...], *expect: Expectation, keys: tuple[str, ...] = ()) -> Model:
    spec = TableSpec("gold", TARGET.name, "test table", columns, "test", None, keys=keys,
                     model=ModelSpec("full"), expectations=tuple(expect))
    return Model(spec, "SELECT 1", ())


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[DuckDBEngine]:
    settings = make_settings(tmp_path / "lake")
    e = DuckDBEngine(settings, DeltaStore(settings))
    yield e
    e.close()


def data(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=pa.schema([
        ("id", pa.string()), ("kind", pa.string()), ("amount", pa.float64()), ("ts", pa.timestamp("us", "UTC"))]))


def streamed(engine: DuckDBEngine, rows: pa.Table, *expect: Expectation, txns: dict[str, int] | None = None,
             keys: tuple[str, ...] = ()) -> tuple[Validator, Exception | None]:
    """A full build of `rows` through the audited write; returns the gate and what stopped it."""
    model = model_with(COLUMNS, *expect, keys=keys)
    engine.bind_arrow(TARGET, rows, name="__input")
    engine.bind_query("__model", "SELECT * FROM __input")
    gate = Validator(engine.store, engine, "run-s", clock=lambda: NOW)
    gate.staged_kinds = frozenset()  # stream this test's `full` model too
    relation, audit = gate.streamed(model, Batch("__model", txns or {}, None, materialized=False))
    assert audit is not None, "a full build on DuckDB streams through the gate"
    try:
        engine.write(TARGET, f"SELECT * FROM {relation}", mode="overwrite", txns=txns, audit=audit)
    except QualityGateError as exc:
        return gate, exc
    return gate, None


def staged(engine: DuckDBEngine, rows: pa.Table, *expect: Expectation,
           keys: tuple[str, ...] = ()) -> tuple[Validator, list[dict[str, Any]] | None, Exception | None]:
    """The same batch through the staged gate: the rows it would commit, or what stopped it."""
    model = model_with(COLUMNS, *expect, keys=keys)
    engine.bind_arrow(TARGET, rows, name="__input_staged")
    engine.bind_query("__model_staged", "SELECT * FROM __input_staged")
    gate = Validator(engine.store, engine, "run-t", clock=lambda: NOW)
    try:
        relation = gate(model, Batch("__model_staged", {}, None, materialized=False))
    except QualityGateError as exc:
        return gate, None, exc
    return gate, engine.arrow(f"SELECT * FROM {relation}").to_pylist(), None


def verdicts(gate: Validator) -> list[tuple[Any, ...]]:
    return [(r.check, r.outcome, r.failing_rows, r.rows_checked, r.metric, r.threshold, len(r.sample), r.error)
            for r in gate.results]


def committed(engine: DuckDBEngine) -> list[dict[str, Any]]:
    return engine.store.dataset(TARGET).to_table().to_pylist() if engine.store.exists(TARGET) else []


def _key(row: dict[str, Any]) -> str:
    return json.dumps(row, default=str, sort_keys=True)


# -- the streamed gate judges as the staged one, on any data and any batch size ----------------------
ROWS = st.lists(st.fixed_dictionaries({
    "id": st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d", "e", "f", "g", "h"])),
    "kind": st.one_of(st.none(), st.sampled_from(["web", "ios", "Web", "x-1", ""])),
    "amount": st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=32)),
    "ts": st.one_of(st.none(), st.integers(0, 72 * 3600).map(lambda s: NOW - timedelta(seconds=s))),
}), max_size=40)

CHECKS = st.lists(st.sampled_from([
    not_null("id", name="id_present"),
    not_null("kind", "ts", name="kind_ts_present", action="drop"),
    accepted_values("kind", ("web", "ios"), allow_null=True, name="kind_known"),
    in_range("amount", min=0, max=100, name="amount_range", fail_if="> 50%"),
    in_range("amount", min=-1e6, max_inclusive=False, max=1e6, name="amount_sane", action="drop"),
    matches("kind", "[a-z]+", name="kind_lower", warn_if="> 2"),
    predicate("amount IS NULL OR amount < 50 OR kind = 'web'", name="big_is_web"),
    unique("id", name="id_unique", fail_if="> 10"),
    unique("id", "kind", name="id_kind_unique"),
    completeness("id", "amount", min_pct=60, name="id_amount_complete"),
    row_count(min=3, max=35, name="rows_bounded"),
    freshness("ts", 24 * 3600, against="now", name="fresh_day"),
    not_null("amount", name="amount_gate", action="fail", fail_if="> 30%"),
]), min_size=1, max_size=6, unique_by=lambda e: e.name)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=ROWS, checks=CHECKS, batch_rows=st.integers(1, 16))
def test_streamed_and_staged_gates_agree(
    engine: DuckDBEngine, monkeypatch: pytest.MonkeyPatch, rows: list[dict[str, Any]], checks: list[Expectation],
    batch_rows: int,
) -> None:
    monkeypatch.setattr(duckdb_engine, "BATCH_ROWS", batch_rows)
    table = data(rows)
    before = engine.store.version(TARGET) if engine.store.exists(TARGET) else None
    s_gate, s_error = streamed(engine, table, *checks)
    t_gate, t_rows, t_error = staged(engine, table, *checks)
    assert verdicts(s_gate) == verdicts(t_gate)
    assert (s_error is None) == (t_error is None)
    if t_error is not None:
        assert str(s_error) == str(t_error)
        assert (engine.store.version(TARGET) if engine.store.exists(TARGET) else None) == before
        return
    assert t_rows is not None
    assert Counter(map(_key, committed(engine))) == Counter(map(_key, t_rows))


# -- what the streamed gate does on its own ---------------------------------------------------------
def test_a_failed_check_after_the_last_batch_commits_nothing(engine: DuckDBEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(duckdb_engine, "BATCH_ROWS", 4)
    ok = data([{"id": f"k{i}", "kind": "web", "amount": 1.0, "ts": NOW} for i in range(10)])
    gate, error = streamed(engine, ok, unique("id", action="fail", name="id_unique"))
    assert error is None and len(committed(engine)) == 10
    version = engine.store.version(TARGET)
    # the duplicate is in the last batch, of a key from the first: only the end can see it
    dup = data([{"id": f"k{i}", "kind": "web", "amount": 1.0, "ts": NOW} for i in [*range(11), 0]])
    gate, error = streamed(engine, dup, unique("id", action="fail", name="id_unique"))
    assert isinstance(error, QualityGateError) and "id_unique" in str(error)
    assert engine.store.version(TARGET) == version and len(committed(engine)) == 10
    (r,) = [r for r in gate.results if r.check == "id_unique"]
    assert (r.outcome, r.failing_rows, r.rows_checked) == ("fail", 2, 12)
    assert r.sample == [{"id": "k0", "__n": 2}]


def test_drops_are_exact_and_quarantined_before_the_commit(engine: DuckDBEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(duckdb_engine, "BATCH_ROWS", 3)
    rows = [{"id": f"k{i}", "kind": "web", "amount": float(-i if i % 4 == 0 else i), "ts": NOW} for i in range(1, 21)]
    txns = {"transform:gold.daily_summary<-silver.x": 7}
    _, error = streamed(engine, data(rows), in_range("amount", min=0, action="drop", name="no_negative"), txns=txns)
    assert error is None
    kept = committed(engine)
    dropped = [r for r in engine.store.dataset(QUARANTINE).to_table().to_pylist() if r["table"] == TARGET.fqn]
    assert len(kept) + len(dropped) == 20 and len(dropped) == 5
    assert sorted(json.loads(r["row"])["id"] for r in dropped) == sorted(f"k{i}" for i in range(4, 21, 4))
    assert all(r["check"] == "no_negative" and r["run_id"] == "run-s" for r in dropped)
    assert all(r["amount"] >= 0 for r in kept)
    # the quarantine carries the batch's markers: a rerun of the same batch (after a crash between
    # the two commits) does not quarantine its rows twice
    assert engine.store.txn_versions(QUARANTINE, {f"quarantine:{k}": v for k, v in txns.items()}) == {
        f"quarantine:{k}": v for k, v in txns.items()}
    streamed(engine, data(rows), in_range("amount", min=0, action="drop", name="no_negative"), txns=txns)
    again = [r for r in engine.store.dataset(QUARANTINE).to_table().to_pylist() if r["table"] == TARGET.fqn]
    assert len(again) == 5


def test_a_check_that_cannot_run_is_an_error_and_a_gate_that_cannot_run_fails(engine: DuckDBEngine) -> None:
    rows = data([{"id": "a", "kind": "web", "amount": 1.0, "ts": NOW}])
    gate, error = streamed(engine, rows, predicate("no_such_column > 0", name="broken"))
    assert error is None and len(committed(engine)) == 1
    (r,) = [r for r in gate.results if r.check == "broken"]
    assert r.outcome == "error" and r.error and "no_such_column" in r.error
    gate, error = streamed(engine, rows, predicate("no_such_column > 0", name="broken_gate", action="fail"))
    assert isinstance(error, QualityGateError) and "broken_gate" in str(error)


def test_checks_that_read_other_tables_are_staged_not_streamed(engine: DuckDBEngine) -> None:
    model = model_with(COLUMNS, references("id", "silver.users.user_id"))
    engine.bind_arrow(TARGET, data([]), name="__input")
    engine.bind_query("__model", "SELECT * FROM __input")
    gate = Validator(engine.store, engine, "run-r")
    gate.staged_kinds = frozenset()
    _, audit = gate.streamed(model, Batch("__model", {}, None, materialized=False))
    assert audit is None  # judged before the write returned, on staged rows
    assert any(r.check.startswith("id_references") or r.kind == "References" for r in gate.results)


def test_an_empty_build_passes_what_an_empty_batch_passes(engine: DuckDBEngine) -> None:
    checks = (unique("id"), completeness("id", min_pct=90), row_count(min=1, name="some_rows", action="fail"))
    s_gate, s_error = streamed(engine, data([]), *checks)
    t_gate, _, t_error = staged(engine, data([]), *checks)
    assert verdicts(s_gate) == verdicts(t_gate)
    assert isinstance(s_error, QualityGateError) and str(s_error) == str(t_error)


def test_a_full_refresh_streams_every_table_and_records_every_check(tmp_path: Path) -> None:
    """End to end: the real models' full build goes through the audited write."""
    from lakehouse.service import Lakehouse

    lh = Lakehouse(make_settings(tmp_path / "lake"))
    lh.simulate(events=3000, days=2, start=datetime(2026, 3, 1, tzinfo=UTC), seed=7)
    lh.ingest()
    writes: list[str] = []
    original = DuckDBEngine.write

    def spy(self: DuckDBEngine, target: Any, sql: str, **kw: Any) -> int:
        if kw.get("audit") is not None:
            writes.append(target.fqn)
        return original(self, target, sql, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(DuckDBEngine, "write", spy)
        results = lh.transform(full_refresh=True)
    checked = {c.table for r in results for c in r.checks}
    built = {m.table for r in results for m in r.models}
    # every table without a referential check streamed; the rest were staged, and all were checked
    assert "silver.app_events" in writes and "gold.user_segments" not in writes
    assert checked == built
    assert all(c.outcome in ("pass", "warn") for r in results for c in r.checks)


def test_a_stopped_build_leaves_nothing_a_vacuum_does_not_remove(engine: DuckDBEngine) -> None:
    import pyarrow.parquet as pq

    streamed(engine, data([{"id": f"k{i}", "kind": "web", "amount": 1.0, "ts": NOW} for i in range(5)]))
    version = engine.store.version(TARGET)
    _, error = streamed(engine, data([{"id": None, "kind": "web", "amount": 1.0, "ts": NOW}] * 3),
                        not_null("id", action="fail", name="id_gate"))
    assert isinstance(error, QualityGateError) and engine.store.version(TARGET) == version
    # A big build writes data files as it streams; stopped, they are in no version of the log.
    table_dir = engine.store.path(TARGET)
    live = {Path(p).name for p in engine.store.snapshot(TARGET).paths}
    stray = table_dir / "part-00000-stopped-build-c000.snappy.parquet"
    pq.write_table(data([{"id": "x", "kind": "web", "amount": 1.0, "ts": NOW}]), stray)
    assert stray.name not in live
    removed = engine.store.vacuum(TARGET, retention_hours=0, enforce_retention=False)
    assert not stray.exists() and any(stray.name in r for r in removed)
    assert sorted(r["id"] for r in committed(engine)) == [f"k{i}" for i in range(5)]


def test_full_models_are_staged_and_the_other_kinds_stream(engine: DuckDBEngine) -> None:
    engine.bind_arrow(TARGET, data([{"id": "a", "kind": "web", "amount": 1.0, "ts": NOW}] * 3), name="__input")
    engine.bind_query("__model", "SELECT * FROM __input")
    batch = Batch("__model", {}, None, materialized=False)
    small = model_with(COLUMNS, not_null("id"))  # kind `full`: small outputs by definition
    gate = Validator(engine.store, engine, "run-o")
    _, audit = gate.streamed(small, batch)
    assert audit is None and [r.check for r in gate.results] == ["schema", "id_not_null", "amount_finite"]
    spec = replace(small.spec, model=ModelSpec("unique_key", key="id"))
    _, audit = Validator(engine.store, engine, "run-p").streamed(Model(spec, "SELECT 1", ()), batch)
    assert audit is not None


def test_a_check_that_fails_on_some_rows_is_an_error_and_the_build_goes_on(engine: DuckDBEngine) -> None:
    rows = data([{"id": "a", "kind": "7", "amount": 1.0, "ts": NOW}, {"id": "b", "kind": "web", "amount": 1.0, "ts": NOW}])
    cast = predicate("CAST(kind AS INTEGER) > 0", name="kind_is_a_number")
    s_gate, s_error = streamed(engine, rows, cast)
    t_gate, _, _ = staged(engine, rows, cast)
    assert s_error is None and len(committed(engine)) == 2
    (r,) = [r for r in s_gate.results if r.check == "kind_is_a_number"]
    assert r.outcome == "error" and r.error and "web" in r.error
    assert verdicts(s_gate) == verdicts(t_gate)
    # the same check as a gate stops the build
    gated = predicate("CAST(kind AS INTEGER) > 0", name="kind_gate", action="fail")
    _, s_error = streamed(engine, rows, gated)
    assert isinstance(s_error, QualityGateError) and "kind_gate" in str(s_error)
