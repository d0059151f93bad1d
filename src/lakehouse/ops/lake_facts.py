"""What the health report reads from the Delta logs, read once per table version.

A table's facts (size, files, last commit, newest event time, progress markers) only change
with its version, so they are cached by version: a report on a lake where nothing moved costs
one log refresh per table. Commit timestamps never change either; an input's history is read
back only as far as the versions a model has not consumed yet, and only once.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from lakehouse.contract import TableId
from lakehouse.storage.base import Commit, TableStore

# Commits that do not change what a table holds: a model behind only by these is not late.
MAINTENANCE = frozenset({"OPTIMIZE", "VACUUM START", "VACUUM END", "SET TBLPROPERTIES", "UPGRADE PROTOCOL"})
HISTORY_CAP = 1000  # commits read back per input at most; beyond it the delay is a lower bound


@dataclass(frozen=True)
class TableFacts:
    version: int
    last_commit_at: datetime | None
    size_bytes: int
    files: int
    rows: int
    newest_event: datetime | None  # for a date column: midnight of the newest day
    newest_is_day: bool
    newest_note: str | None
    markers: Mapping[str, int]  # application transaction id -> version


@dataclass(frozen=True)
class Pending:
    """The commits of an input after the version a model consumed."""

    oldest_data_commit_at: datetime | None  # None: nothing but maintenance (or unreadable)
    exact: bool  # False: more than HISTORY_CAP behind, the time is a lower bound
    readable: bool = True


def is_data_change(c: Commit) -> bool:
    if c.operation in MAINTENANCE:
        return False
    if c.operation == "WRITE":  # a commit that only records progress markers adds and removes nothing
        added, removed = c.metrics.get("num_added_rows"), c.metrics.get("num_removed_files")
        return not (added == 0 and not removed)
    return True


def as_time(value: Any) -> tuple[datetime | None, bool]:
    """A column value as a UTC time, and whether it was a date (day resolution)."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)), False
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC), True
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None, False
        day = len(value.strip()) <= 10
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)), day
    return None, False


class LakeFacts:
    def __init__(self, store: TableStore) -> None:
        self.store = store
        self._facts: dict[str, TableFacts] = {}
        self._commits: dict[str, dict[int, Commit]] = {}
        self._span: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def version(self, table: TableId) -> int | None:
        return self.store.version(table)

    def facts(self, table: TableId, version: int, time_column: str | None, app_ids: Sequence[str]) -> TableFacts:
        cached = self._facts.get(table.fqn)
        if cached is not None and cached.version == version:
            return cached
        snap = self.store.snapshot(table)
        newest, note, is_day = None, None, False
        if time_column is not None and not snap.files:
            note = "no rows"
        elif time_column is not None:
            if time_column in snap.partition_columns:
                values = [f.partition.get(time_column) for f in snap.files]
                raw: Any = max((v for v in values if v is not None), default=None)
            elif time_column in snap.schema.names:
                raw = self.store.column_max(table, time_column)
            else:
                raw, note = None, f"no column '{time_column}'"
            parsed, is_day = as_time(raw)
            if raw is not None and parsed is None:
                note = f"'{time_column}' is not a time ({type(raw).__name__})"
            elif parsed is not None and is_day:
                note = f"'{time_column}' is a date: lag counted from the end of its day"
            newest = parsed
        facts = TableFacts(
            version=snap.version, last_commit_at=snap.last_modified, size_bytes=snap.size_bytes,
            files=len(snap.files), rows=snap.rows, newest_event=newest, newest_is_day=is_day, newest_note=note,
            markers=self.store.txn_versions(table, app_ids) if app_ids else {},
        )
        with self._lock:
            self._facts[table.fqn] = facts
        return facts

    def pending(self, table: TableId, consumed: int, latest: int) -> Pending:
        """When the oldest data-changing commit of `table` after `consumed` was made."""
        if consumed >= latest:
            return Pending(None, True)
        low = max(consumed + 1, latest - HISTORY_CAP + 1)
        exact = low == consumed + 1
        commits = self._commits.setdefault(table.fqn, {})
        span = self._span.get(table.fqn)  # the versions read so far (missing ones: cleaned up)
        if span is None or low < span[0] or latest > span[1]:
            want = latest - low + 1
            try:
                history = self.store.history(table, want)
            except Exception:  # an unreadable history makes this delay unknown, not the report fail
                return Pending(None, exact, readable=False)
            got = [c.version for c in history]
            if got:
                lo, hi = min(got), max(got)
                if len(got) < want:  # the log holds nothing older: do not ask again
                    lo = min(lo, low)
                joins = span is not None and lo <= span[1] + 1 and hi >= span[0] - 1
                span = (min(lo, span[0]), max(hi, span[1])) if joins and span else (lo, hi)
                if not joins:
                    commits.clear()
                commits.update({c.version: c for c in history})
                for v in [v for v in commits if v < span[1] - 2 * HISTORY_CAP]:
                    del commits[v]
                self._span[table.fqn] = (max(span[0], span[1] - 2 * HISTORY_CAP), span[1])
        for v in range(low, latest + 1):
            c = commits.get(v)
            if c is not None and is_data_change(c):
                return Pending(c.timestamp, exact)
        return Pending(None, exact)
