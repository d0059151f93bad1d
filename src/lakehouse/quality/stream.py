"""The quality gate on a full build that streams into its commit (write-audit-publish).

A full build's rows go from the model's query straight to the table's writer; staging them to
check them first would cost a copy of the whole output. Instead:

- the relation written carries one boolean column per row check (its `violated` expression,
  under `try`, so a check that cannot be evaluated on a row shows as NULL instead of stopping
  the build) and per completeness check: the engine computes them with the rows, in the same
  pipeline, and never writes them;
- the engine shows the audit each batch on the way (`engines.base.Audit`): it counts those
  columns, keeps the newest event time, the first failing rows as samples, the key columns of
  `unique` checks (a hash aggregate over them at the end), and sets aside the rows violating
  `drop` checks for the quarantine, letting the rest through;
- after the last batch, before the commit, it judges every check on the totals exactly as the
  staged gate judges the whole batch, records the results, and raises on a failed check: the
  writer then commits nothing and the table stays at its previous version. The dropped rows
  are committed to `silver.quarantine` before the table's own commit, with its markers.

Checks that read other tables (`referential`, SQL predicates with a subquery) are not streamed:
such a table is staged and checked like an incremental batch (`Validator.streamed`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.contract import TableSpec
from lakehouse.contract.expectations import Completeness, Expectation, Freshness, RowCount, Unique
from lakehouse.pipeline.engines.base import AuditSession, Engine
from lakehouse.pipeline.kinds.base import Batch
from lakehouse.pipeline.registry import Model
from lakehouse.pipeline.sql import quote
from lakehouse.quality.compile import ROW, violated
from lakehouse.quality.judged import SAMPLE_ROWS, Judged, by_thresholds, completeness, sample
from lakehouse.quality.quarantine import QUARANTINE, quarantine_select
from lakehouse.results import CheckResult
from lakehouse.storage.base import TableStore

log = logging.getLogger(__name__)

PREFIX = "__audit_"
_BATCH = "__audit_batch"


def _complete(e: Completeness) -> str:
    return " AND ".join(f"{quote(c)} IS NOT NULL" for c in e.columns)


class Gatekeeper(Protocol):
    """What the audit needs of the gate that made it (`validate.Validator`)."""

    store: TableStore
    engine: Engine
    run_id: str
    results: list[CheckResult]

    def row_count(self, spec: TableSpec, e: RowCount, rows: int, j: Judged) -> None: ...

    def freshness(self, spec: TableSpec, e: Freshness, batch_newest: Any, j: Judged, *, replaces: bool) -> None: ...

    def judged(self, model: Model, checks: list[Expectation], judged: list[Judged]) -> None: ...

    def commit_quarantine(self, model: Model, batch: Batch, write: Callable[..., int]) -> None: ...


class StreamAudit:
    """An `Audit` of one full build: what the staged gate judges, measured batch by batch."""

    def __init__(self, validator: Gatekeeper, model: Model, checks: list[Expectation], batch: Batch) -> None:
        self.v, self.model, self.checks, self.staged = validator, model, checks, batch
        self.judged = {e.name: Judged(e) for e in checks}
        self.seen = 0
        self.incomplete = {e.name: 0 for e in checks if isinstance(e, Completeness)}
        self.newest: dict[str, datetime | None] = {e.name: None for e in checks if isinstance(e, Freshness)}
        self.broken: set[str] = set()  # checks that could not run: judged as errors, measured no more
        self.batches = 0
        self.quarantined = 0  # batches with rows set aside for the quarantine
        self.elapsed = 0.0
        tag = f"{model.table.layer}_{model.table.name}"
        self.keys = {e.name: f"{PREFIX}keys_{tag}_{i}" for i, e in enumerate(checks) if isinstance(e, Unique)}
        self.quarantine = f"{PREFIX}quarantine_{tag}"
        self.columns: dict[str, str] = {}  # check -> its measure column
        self.measures: tuple[str, ...] = ()
        self.written: list[str] = []

    def relation(self, flagged: str) -> str:
        """The relation to write: the flagged rows with a measure column per check that has one.
        The measures are bound together, and one by one only if that fails: one that cannot be
        (a misspelt column) is an error outcome, not a build that cannot start."""
        engine = self.v.engine
        self.written = list(self.model.spec.column_names)
        exprs: dict[str, str] = {}
        for i, e in enumerate(self.checks):
            if e.row_level:
                exprs[e.name] = f"try(coalesce({violated(e)}, false)) AS {PREFIX}{i}"
            elif isinstance(e, Completeness):
                exprs[e.name] = f"NOT ({_complete(e)}) AS {PREFIX}{i}"
        if not exprs:
            return flagged
        try:
            engine.schema(f"SELECT {', '.join(exprs.values())} FROM {flagged} AS {ROW}")
        except Exception:
            for e in self.checks:
                if e.name in exprs:
                    with self._guard(e):
                        engine.schema(f"SELECT count(*) FROM (SELECT * FROM {flagged} AS {ROW} WHERE {violated(e) if e.row_level else 'true'})")
                        engine.schema(f"SELECT {exprs[e.name]} FROM {flagged} AS {ROW}")
            exprs = {name: sql for name, sql in exprs.items() if name not in self.broken}
            if not exprs:
                return flagged
        self.columns = {name: sql.rsplit(" AS ", 1)[1] for name, sql in exprs.items()}
        self.measures = tuple(self.columns.values())
        name = f"{PREFIX}{self.model.table.layer}_{self.model.table.name}"
        engine.bind_query(name, f"SELECT *, {', '.join(exprs.values())} FROM {flagged} AS {ROW}")
        return name

    # -- each batch -----------------------------------------------------------------------
    def batch(self, batch: pa.RecordBatch, session: AuditSession) -> pa.Array | None:
        t0 = time.perf_counter()
        first = self.batches == 0
        self.batches += 1
        self.seen += batch.num_rows
        masks = self._measure(batch, session)
        rows = batch.select(self.written)
        for e in self.checks:  # the first failing rows of each check, up to the sample's size
            j = self.judged[e.name]
            if e.name in masks and len(j.sample) < SAMPLE_ROWS:
                j.sample += sample(rows.filter(masks[e.name]).slice(0, SAMPLE_ROWS - len(j.sample)).to_pylist())
        for e in self._live(Unique):
            cols = ", ".join(quote(c) for c in e.columns)
            verb = f"CREATE TEMP TABLE {self.keys[e.name]} AS" if first else f"INSERT INTO {self.keys[e.name]}"
            with self._guard(e), self._bound(session, rows.select(list(e.columns))):
                session.execute(f"{verb} SELECT {cols} FROM {_BATCH}")
        keep = self._drop(rows, masks, session)
        self.elapsed += time.perf_counter() - t0
        return keep

    def _measure(self, batch: pa.RecordBatch, session: AuditSession) -> dict[str, pa.Array]:
        """Counts the batch's measure columns; returns each check's mask where it has failing rows."""
        masks: dict[str, pa.Array] = {}
        for e in self.checks:
            if e.name in self.broken:
                continue
            if isinstance(e, Freshness):
                newest, found = self.newest[e.name], pc.max(batch.column(e.column)).as_py()
                if isinstance(found, datetime):
                    self.newest[e.name] = found if newest is None else max(newest, found)
                continue
            if e.name not in self.columns:
                continue
            column = batch.column(self.columns[e.name])
            if column.null_count:  # `try` gave NULL: the check's SQL failed on some row
                self._unevaluable(e, batch, session)
                continue
            failing = int(pc.sum(column).as_py() or 0)
            if not failing:
                continue
            masks[e.name] = column
            if isinstance(e, Completeness):
                self.incomplete[e.name] += failing
            else:
                self.judged[e.name].failing += failing
        return masks

    def _unevaluable(self, e: Expectation, batch: pa.RecordBatch, session: AuditSession) -> None:
        """Judge `e` an error with the engine's own message: its SQL re-run without `try`."""
        with self._guard(e), self._bound(session, batch.select(self.written)):
            session.rows(f"SELECT count(*) FILTER (WHERE {violated(e)}) FROM {_BATCH} AS {ROW}")
            raise ValueError(f"{e.name} could not be evaluated on some rows")  # (if it ran this time)

    def _drop(self, rows: pa.RecordBatch, masks: dict[str, pa.Array], session: AuditSession) -> pa.Array | None:
        """Set aside this batch's rows that violate a `drop` check; returns the mask of rows to write."""
        drops = [e for e in self.checks if e.action == "drop" and e.name in masks]
        if not drops:
            return None
        dropped = masks[drops[0].name]
        for e in drops[1:]:
            dropped = pc.or_(dropped, masks[e.name])
        select = quarantine_select(self.model, _BATCH, drops, self.v.run_id)
        verb = f"INSERT INTO {self.quarantine}" if self.quarantined else f"CREATE TEMP TABLE {self.quarantine} AS"
        with self._bound(session, rows.filter(dropped)):
            session.execute(f"{verb} {select}")
        self.quarantined += 1
        return pc.invert(dropped)

    # -- after the last batch -------------------------------------------------------------
    def finish(self, session: AuditSession) -> None:
        t0 = time.perf_counter()
        spec = self.model.spec
        for e in self.checks:
            j = self.judged[e.name]
            j.checked = self.seen
            if e.name in self.broken:
                continue
            if e.row_level:
                j.metric = float(j.failing)
                by_thresholds(j)
            elif isinstance(e, Unique):
                with self._guard(e):
                    self._unique(e, j, session)
            elif isinstance(e, Completeness):
                bad_rows = self.incomplete[e.name]
                completeness(e, 100.0 * (self.seen - bad_rows) / self.seen if self.seen else 100.0, bad_rows, j)
            elif isinstance(e, RowCount):
                self.v.row_count(spec, e, self.seen, j)
            elif isinstance(e, Freshness):
                self.v.freshness(spec, e, self.newest[e.name], j, replaces=True)
        share = round((self.elapsed + time.perf_counter() - t0) / max(1, len(self.checks)), 4)
        for j in self.judged.values():
            j.seconds = share
        try:
            self.v.judged(self.model, self.checks, list(self.judged.values()))  # raises on a failed check
            if self.quarantined:
                self.v.commit_quarantine(self.model, self.staged, self._commit_quarantine(session))
        finally:
            for name in [*self.keys.values(), self.quarantine]:
                session.execute(f"DROP TABLE IF EXISTS {name}")

    def _unique(self, e: Unique, j: Judged, session: AuditSession) -> None:
        cols = ", ".join(quote(c) for c in e.columns)
        dupes = f"SELECT {cols}, count(*) AS __n FROM {self.keys[e.name]} GROUP BY {cols} HAVING count(*) > 1"
        if self.batches:  # (no batch, no keys table: nothing to count)
            j.failing = int(session.rows(f"SELECT coalesce(sum(__n), 0) FROM ({dupes})")[0][0] or 0)
        j.metric = float(j.failing)
        by_thresholds(j)
        if j.failing:
            found = session.reader(f"{dupes} LIMIT {SAMPLE_ROWS}").read_all()
            j.sample = sample(found.to_pylist())

    def _commit_quarantine(self, session: AuditSession) -> Callable[..., int]:
        store, rows = self.v.store, f"SELECT * FROM {self.quarantine}"

        def write(*, mode: str, where: Any, **options: Any) -> int:
            if mode == "append":
                return store.append(QUARANTINE, session.reader(rows), **options)
            return store.replace(QUARANTINE, session.reader(rows), where=where, **options)

        return write

    # -- helpers --------------------------------------------------------------------------
    def _live(self, kind: type[Expectation]) -> list[Any]:
        return [e for e in self.checks if isinstance(e, kind) and e.name not in self.broken]

    @staticmethod
    @contextmanager
    def _bound(session: AuditSession, data: pa.RecordBatch) -> Iterator[None]:
        session.bind(_BATCH, data)
        try:
            yield
        finally:
            session.unbind(_BATCH)

    @contextmanager
    def _guard(self, e: Expectation) -> Iterator[None]:
        """One check's step: a check that cannot run is an outcome (error, or fail for a gate)."""
        try:
            yield
        except Exception as exc:
            log.warning("%s: check %s could not run: %s", self.model.spec.fqn, e.name, exc)
            j = self.judged[e.name]
            j.outcome, j.error = "error", str(exc).splitlines()[0][:500]
            if e.action == "fail":
                j.outcome = "fail"  # a gate that cannot be evaluated does not let the batch through
            self.broken.add(e.name)
