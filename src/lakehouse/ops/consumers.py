"""What each downstream model still has to read of a table.

A model's commits carry, per input, the input version they cover (`transform:<model><-<input>`).
A model whose kind reads the change feed (`reads_changes`) reads, on its next incremental run,
the log entries and the data files of every input version after that one — including files a
compaction or a retention DELETE has since removed. Until every such consumer has moved past
a version, VACUUM must keep the files removed after it and log cleanup its log entries.
A model never built (or whose marker is missing) rebuilds from the current snapshot: it needs
no history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lakehouse.contract import TableId
from lakehouse.pipeline.kinds import KINDS, app_id
from lakehouse.pipeline.registry import load_models
from lakehouse.storage.base import TableStore


@dataclass(frozen=True)
class Need:
    """`model` has consumed `table` up to `consumed`; it still reads every version after it."""

    model: TableId
    table: TableId
    consumed: int
    since: datetime | None  # when version consumed + 1 was committed (None: no such version yet)

    @property
    def first_needed(self) -> int:
        return self.consumed + 1


def consumers(table: TableId) -> list[TableId]:
    """The models that read `table` incrementally (through its change feed)."""
    return [m.table for m in load_models() if table in m.depends_on and KINDS[m.kind].reads_changes]


def needs(store: TableStore, table: TableId) -> list[Need]:
    """Per consumer of `table` that is behind its current version: what it still has to read."""
    current = store.version(table)
    if current is None:
        return []
    out = []
    for model in consumers(table):
        consumed = store.txn_versions(model, [app_id(model, table)]).get(app_id(model, table))
        if consumed is None or consumed >= current:
            continue
        out.append(Need(model, table, consumed, store.commit_time(table, consumed + 1)))
    return sorted(out, key=lambda n: n.consumed)


def oldest(store: TableStore, table: TableId) -> Need | None:
    """The consumer furthest behind (the one that bounds VACUUM and log cleanup), if any."""
    found = needs(store, table)
    return found[0] if found else None
