"""Helpers for the retention and maintenance tests (importable as `ops_support`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pyarrow as pa

from lakehouse.service import Lakehouse

START = datetime(2026, 7, 1, tzinfo=UTC)
DAYS = 120
LAST_DAY = (START + timedelta(days=DAYS - 1)).date()
AS_OF = LAST_DAY + timedelta(days=1)  # "today" for retention: the day after the last event


def content(lh: Lakehouse, table: str, key: str | None = None) -> pa.Table:
    """The table's rows in a stable order (every column), for before/after comparisons."""
    t = lh.store.dataset(table).to_table()
    t = t.select(sorted(t.column_names))
    return t.sort_by([(c, "ascending") for c in ([key] if key else t.column_names)
                      if not pa.types.is_list(t.schema.field(c).type)])


def days_in(lh: Lakehouse, table: str, column: str) -> set[date]:
    return set(lh.store.dataset(table).to_table(columns=[column]).column(0).to_pylist())
