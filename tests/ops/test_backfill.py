"""`backfill` rebuilds a range of dates: other dates stay as they were, markers stay right.

The lake: two deliveries over the same days; the second is ingested into bronze but not yet
transformed when the backfill runs, so the backfill has real work (new rows in its range) and
input outside its range that it must leave for the next incremental run.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from lakehouse.exceptions import InputError
from lakehouse.pipeline.kinds import app_id
from lakehouse.pipeline.registry import load_models
from lakehouse.service import Lakehouse

from support import make_settings

D = datetime(2026, 3, 2, tzinfo=UTC)
GAP = timedelta(minutes=30)
DAY_COLUMN = {  # the date each row belongs to, for tables rebuilt by date
    "unique_key": "event_date", "partition": "event_date", "sessions": "session_date",
}


def _copy(src: Lakehouse, dst: Path) -> Lakehouse:
    shutil.copytree(src.settings.base_path, dst)
    return Lakehouse(make_settings(dst))


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Lakehouse:
    root = tmp_path_factory.mktemp("bf") / "lake"
    lh = Lakehouse(make_settings(root))
    lh.simulate(events=9_000, days=4, start=D, seed=21, bad_fraction=0.02)
    lh.ingest()
    lh.transform()
    lh.simulate(events=5_000, days=5, start=D - timedelta(days=1), seed=22, bad_fraction=0.02)
    lh.ingest()  # in bronze, not yet in silver/gold
    return lh


@pytest.fixture(scope="module")
def full(base: Lakehouse, tmp_path_factory: pytest.TempPathFactory) -> Lakehouse:
    """The same lake as a full refresh of the same bronze builds it (read only)."""
    lh = _copy(base, tmp_path_factory.mktemp("bf_full") / "lake")
    lh.transform(full_refresh=True)
    return lh


def rows(lh: Lakehouse, table: str, where: str = "true") -> list[tuple[Any, ...]]:
    t: pa.Table = lh.store.dataset(table).to_table()
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    con.register("t", t)
    return con.execute(f"SELECT * FROM t WHERE {where} ORDER BY ALL").fetchall()


def outside(kind: str, lo: date, hi: date) -> str | None:
    """Rows a backfill of [lo, hi] must leave exactly as they were (None: the table is rebuilt)."""
    if kind == "sessions":
        ws = datetime.combine(lo, datetime.min.time(), UTC) - GAP
        we = datetime.combine(hi + timedelta(days=1), datetime.min.time(), UTC) + GAP
        return f"session_end < TIMESTAMPTZ '{ws.isoformat()}' OR session_start > TIMESTAMPTZ '{we.isoformat()}'"
    if kind in DAY_COLUMN:
        return f"{DAY_COLUMN[kind]} IS NULL OR {DAY_COLUMN[kind]} NOT BETWEEN DATE '{lo}' AND DATE '{hi}'"
    if kind == "cdc_merge":
        return "true"  # not by date: left as it is
    return None


def inside(kind: str, lo: date, hi: date) -> str | None:
    """Rows a backfill of [lo, hi] rebuilds exactly as a full refresh does."""
    if kind == "sessions":  # the sessions well inside the range: all their clicks are in it
        ws = datetime.combine(lo, datetime.min.time(), UTC) + GAP
        we = datetime.combine(hi + timedelta(days=1), datetime.min.time(), UTC) - GAP
        return f"session_start >= TIMESTAMPTZ '{ws.isoformat()}' AND session_end <= TIMESTAMPTZ '{we.isoformat()}'"
    if kind in ("unique_key", "partition"):
        return f"{DAY_COLUMN[kind]} BETWEEN DATE '{lo}' AND DATE '{hi}'"
    return None


RANGES = [
    (D.date() + timedelta(days=1), D.date() + timedelta(days=2)),  # the middle
    (D.date() - timedelta(days=1), D.date() - timedelta(days=1)),  # a day only the late delivery has
    (D.date() + timedelta(days=3), D.date() + timedelta(days=9)),  # past the end of the data
]


@pytest.mark.parametrize(("lo", "hi"), RANGES, ids=["middle", "late-only-day", "past-the-end"])
def test_backfill_changes_only_its_range_and_the_next_run_completes_it(
    base: Lakehouse, full: Lakehouse, tmp_path: Path, lo: date, hi: date,
) -> None:
    lh = _copy(base, tmp_path / "lake")
    models = load_models()
    before_out = {m.table.fqn: rows(lh, m.table.fqn, w) for m in models if (w := outside(m.kind, lo, hi))}
    before_in = rows(lh, "silver.app_events", inside("unique_key", lo, hi) or "true")
    def markers() -> dict[str, dict[str, int]]:
        return {m.table.fqn: lh.store.txn_versions(m.table, [app_id(m.table, d) for d in m.depends_on])
                for m in models if m.kind != "full"}

    marked = markers()

    result = lh.backfill(lo, hi)

    assert result.status == "success"
    for m in models:
        w = outside(m.kind, lo, hi)
        if w is not None:
            assert rows(lh, m.table.fqn, w) == before_out[m.table.fqn], f"{m.table} changed outside the range"
        w = inside(m.kind, lo, hi)
        if w is not None:
            assert rows(lh, m.table.fqn, w) == rows(full, m.table.fqn, w), f"{m.table} in the range differs from a full refresh"
    # Range replacements carry no progress markers: the next run still reads what it had not read.
    assert markers() == marked
    if lo <= D.date() + timedelta(days=3):  # the late delivery has rows in the range
        assert rows(lh, "silver.app_events", inside("unique_key", lo, hi) or "true") != before_in
    assert {m.action for m in result.models if m.kind == "cdc_merge"} == {"skipped"}

    lh.transform()  # the incremental run after the backfill: nothing skipped, nothing twice
    for m in models:
        assert rows(lh, m.table.fqn) == rows(full, m.table.fqn), f"{m.table} differs from a full refresh after the next run"


def test_backfill_of_named_tables_leaves_the_others_alone(base: Lakehouse, tmp_path: Path) -> None:
    lh = _copy(base, tmp_path / "lake")
    versions = {m.table.fqn: lh.store.version(m.table) for m in load_models()}
    result = lh.backfill(D.date(), D.date(), tables=["gold_event_metrics", "silver.orders"])
    assert [m.table for m in result.models] == ["silver.orders", "gold.event_metrics"]
    assert result.model("silver.orders").action == "rebuilt"  # type: ignore[union-attr]
    after = {m.table.fqn: lh.store.version(m.table) for m in load_models()}
    changed = {t for t in after if after[t] != versions[t]}
    assert changed == {"silver.orders", "gold.event_metrics"}
    last = lh.history("gold.event_metrics", limit=1)[0]
    assert last.metadata.get("lakehouse.job") == "backfill"


BAD: list[tuple[Callable[[Lakehouse], object], str]] = [
    (lambda lh: lh.backfill(date(2026, 3, 5), date(2026, 3, 1)), "is after --to"),
    (lambda lh: lh.backfill(date(2000, 1, 1), date(2026, 1, 1)), "too long a backfill"),
    (lambda lh: lh.backfill(date(2026, 3, 1), date(2026, 3, 1), ["gold.nope"]), "unknown table"),
    (lambda lh: lh.backfill(date(2026, 3, 1), date(2026, 3, 1), ["bronze.app_events"]), "not a silver or gold model"),
]


@pytest.mark.parametrize(("call", "message"), BAD)
def test_bad_backfill_requests_are_one_clear_error(lh: Lakehouse, call: Callable[[Lakehouse], object],
                                                   message: str) -> None:
    with pytest.raises(InputError, match=message):
        call(lh)
