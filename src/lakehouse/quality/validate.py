"""The quality gate between staging a model's rows and committing them.

For every model the runner stages the rows a run is about to write; the `Validator` then

1. flags each row with the names of the `warn` row checks it violates (`quality_issues`,
   `is_valid`) when the table declares those columns;
2. runs every check of the table (declared + automatic) on that batch — each check is a query
   over the staged rows — and records an outcome per check: pass, warn, fail or error;
3. stops the run before the commit when a check reaches its `fail_if` threshold
   (`QualityGateError`: the table stays at its previous version);
4. moves the rows violating `drop` checks to `silver.quarantine` (with the check, the reason and
   the run id; committed with the same progress markers as the table, so a rerun after a crash
   between the two commits does not quarantine them twice) and hands back the rest to commit.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from lakehouse.contract import REGISTRY, TableId, TableSpec
from lakehouse.contract.arrow import arrow_schema
from lakehouse.contract.expectations import (
    Completeness,
    Expectation,
    Freshness,
    Predicate,
    References,
    RowCount,
    Schema,
)
from lakehouse.exceptions import QualityGateError
from lakehouse.pipeline.engines.base import Audit, Engine
from lakehouse.pipeline.kinds.base import Batch
from lakehouse.pipeline.registry import Model
from lakehouse.pipeline.sql import quote
from lakehouse.quality.compile import ROW, aggregate, flags, violated
from lakehouse.quality.expectations import checks_for
from lakehouse.quality.judged import SAMPLE_ROWS, Judged, bad, by_thresholds, completeness, sample
from lakehouse.quality.quarantine import QUARANTINE, quarantine_select
from lakehouse.quality.stream import StreamAudit
from lakehouse.results import CheckResult
from lakehouse.storage.base import PartitionFilter, TableStore

log = logging.getLogger(__name__)

FRAMEWORK_COLUMNS = ("quality_issues", "is_valid")  # added by the gate, not by the model's SQL
_SUBQUERY = re.compile(r"\bselect\b", re.IGNORECASE)
# Rebuilds of these kinds are staged: `full` models have small outputs by definition (gold
# aggregates), and a copy of a small table costs less than streaming's fixed cost (a second
# session, a thread, a Python reader between the engine and the writer: ~30-50 ms a table).
STAGED_KINDS = frozenset({"full"})


class Validator:
    """The `validate` hook of a transform run (see `pipeline/kinds/base.py`)."""

    def __init__(
        self, store: TableStore, engine: Engine, run_id: str, *, enabled: bool = True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.engine = engine
        self.run_id = run_id
        self.enabled = enabled
        self.clock = clock
        self.results: list[CheckResult] = []
        self._data_clock: datetime | None = None
        self._version: dict[TableId, int | None] = {}  # each table's version before the batch's commit
        self.staged_kinds: frozenset[str] = STAGED_KINDS
        if enabled and not store.exists(QUARANTINE):
            # Created empty up front, so the lake always shows where dropped rows would be.
            spec = REGISTRY.get(QUARANTINE)
            store.append(QUARANTINE, arrow_schema(spec).empty_table(), partition_by=list(spec.partition_by))

    def __call__(self, model: Model, batch: Batch) -> str:
        spec = model.spec
        checks, flagged = self._prologue(model, batch)
        if not checks:
            return flagged
        name = f"__checked_{model.table.layer}_{model.table.name}"
        if batch.materialized:  # already a table in the engine: check the (lazy) flagged view over it
            staged = flagged
            checked = int(self.engine.scalar(f"SELECT count(*) FROM {batch.relation}") or 0)
        else:  # a view over the model: computed once here, then checked and committed from memory
            staged = name
            checked = self.engine.materialize(name, f"SELECT * FROM {flagged}")
        # (None: the batch replaces the whole table)
        after = f"SELECT * FROM {staged} UNION ALL {batch.remaining}" if batch.remaining else None
        judged = self._judge_rows(spec, [e for e in checks if e.row_level], staged, checked)
        judged += [self._judge(spec, e, batch.relation, staged, after, checked) for e in checks if not e.row_level]
        self.judged(model, checks, judged)
        drops = [j.check for j in judged if j.check.action == "drop" and j.failing]
        if not drops:
            return staged
        self._quarantine(model, staged, drops, batch)
        keep = " OR ".join(violated(e) for e in drops)
        return self._view(f"__commit_{model.table.name}", f"SELECT * FROM {staged} AS {ROW} WHERE NOT ({keep})")

    def streamed(self, model: Model, batch: Batch) -> tuple[str, Audit | None]:
        """A full build: checked on its way into the commit when the engine can show it the rows
        (no staging), else staged and checked first like any batch."""
        checks = checks_for(model.spec) if self.enabled else []
        if not self._streamable(batch, checks) or model.kind in self.staged_kinds:
            return self(model, batch), None
        checks, flagged = self._prologue(model, batch)
        if not checks:
            return flagged, None
        audit = StreamAudit(self, model, checks, batch)
        return audit.relation(flagged), audit

    def _streamable(self, batch: Batch, checks: list[Expectation]) -> bool:
        # The audit sees only the rows written (no rows kept from the table) on a second session:
        # checks that read other tables run staged, where every bound relation is visible.
        return (
            "audited_write" in self.engine.supports and not batch.materialized and batch.remaining is None
            and not any(isinstance(e, References) or (isinstance(e, Predicate) and _SUBQUERY.search(e.sql))
                        for e in checks)
        )

    def judged(self, model: Model, checks: list[Expectation], judged: list[Judged]) -> None:
        """Record the verdicts in the checks' order; raise at the first failed one."""
        order = {e.name: i for i, e in enumerate(checks)}
        judged.sort(key=lambda j: order.get(j.check.name, len(order)))
        # (the prologue of this batch read it; every batch of a table runs its prologue first)
        version = self._version[model.table] if model.table in self._version else self.store.version(model.table)
        for j in judged:
            self.results.append(self.result(model.table, j, version))
        failed = [j for j in judged if j.outcome == "fail"]
        if failed:
            first = failed[0]
            raise QualityGateError(
                model.table.fqn, first.check.name,
                f"{first.failing:,} of {first.checked:,} rows" if first.check.row_level
                else f"measured {first.metric}" if first.error is None else first.error,
                str(first.threshold),
            )

    # -- steps ----------------------------------------------------------------------------
    def _prologue(self, model: Model, batch: Batch) -> tuple[list[Expectation], str]:
        """The schema check (first: nothing else can be judged on rows of the wrong shape), then
        the rows flagged by their `warn` row checks; returns the checks still to run."""
        spec = model.spec
        checks = checks_for(spec) if self.enabled else []
        schema = next((e for e in checks if isinstance(e, Schema)), None)
        if schema is not None:
            j = self._judge(spec, schema, batch.relation, batch.relation, batch.relation, 0)
            self._version[model.table] = version = self.store.version(model.table)
            self.results.append(self.result(model.table, j, version))
            if j.outcome == "fail":
                raise QualityGateError(spec.fqn, schema.name, j.error or "schema differs", str(j.threshold))
            checks = [e for e in checks if e is not schema]
        warn_rows = [e for e in checks if e.row_level and e.action == "warn"]
        return checks, self._annotate(model, spec, batch.relation, warn_rows)

    def _annotate(self, model: Model, spec: TableSpec, relation: str, warn_rows: list[Expectation]) -> str:
        """The staged rows in the declared column order, with quality flags where declared."""
        issues = flags(warn_rows)
        select = ", ".join(
            f"{issues} AS quality_issues" if c == "quality_issues"
            else f"array_length({issues}) = 0 AS is_valid" if c == "is_valid"
            else quote(c)
            for c in spec.column_names
        )
        return self._view(
            f"__flagged_{model.table.layer}_{model.table.name}", f"SELECT {select} FROM {relation} AS {ROW}"
        )

    def _view(self, name: str, sql: str) -> str:
        self.engine.bind_query(name, sql)
        return name

    def _judge_rows(self, spec: TableSpec, checks: list[Expectation], staged: str, checked: int) -> list[Judged]:
        """Every row check in one scan of the batch; a check that cannot run is judged alone."""
        if not checks:
            return []
        t0 = time.perf_counter()
        counts = ", ".join(f"count(*) FILTER (WHERE {violated(e)})" for e in checks)
        try:
            found = list(self.engine.rows(f"SELECT {counts} FROM {staged} AS {ROW}")[0])
        except Exception:
            return [self._judge(spec, e, staged, staged, None, checked) for e in checks]
        share = round((time.perf_counter() - t0) / len(checks), 4)
        out = []
        for e, failing in zip(checks, found, strict=True):
            j = Judged(e, checked=checked, failing=int(failing or 0), metric=float(failing or 0), seconds=share)
            by_thresholds(j)
            if j.failing:
                j.sample = self._sample(f"SELECT * FROM {staged} AS {ROW} WHERE {violated(e)}")
            out.append(j)
        return out

    def _judge(
        self, spec: TableSpec, e: Expectation, raw: str, staged: str, after: str | None, checked: int
    ) -> Judged:
        j = Judged(e, checked=checked)
        t0 = time.perf_counter()
        try:
            if isinstance(e, References) and self.store.exists(ref := REGISTRY.resolve(e.to_table)):
                self.engine.bind_table(ref)
            if e.row_level:
                rows_sql = f"SELECT * FROM {staged} AS {ROW} WHERE {violated(e)}"
                j.failing = int(self.engine.scalar(f"SELECT count(*) FROM ({rows_sql})") or 0)
                j.metric = float(j.failing)
                by_thresholds(j)
                if j.failing:
                    j.sample = self._sample(rows_sql)
            elif isinstance(e, Schema):
                self._schema(spec, raw, j)
            else:
                self._aggregate(spec, e, staged, after, j)
        except QualityGateError:
            raise
        except Exception as exc:  # a check that cannot run is an outcome, not a crash
            log.warning("%s: check %s could not run: %s", spec.fqn, e.name, exc)
            j.outcome, j.error = "error", str(exc).splitlines()[0][:500]
            if e.action == "fail":
                j.outcome = "fail"  # a gate that cannot be evaluated does not let the batch through
        j.seconds = round(time.perf_counter() - t0, 4)
        return j

    def _aggregate(self, spec: TableSpec, e: Expectation, staged: str, after: str | None, j: Judged) -> None:
        m = aggregate(e, staged, after or f"SELECT * FROM {staged}")
        value = self.engine.scalar(m.value_sql)
        if isinstance(e, Completeness):
            failing = int(self.engine.scalar(f"SELECT count(*) FROM ({m.rows_sql})") or 0)
            completeness(e, float(value), failing, j)
        elif isinstance(e, RowCount):
            self.row_count(spec, e, int(value or 0), j)
        elif isinstance(e, Freshness):
            newest = self.engine.scalar(f"SELECT max({quote(e.column)}) FROM {staged}")
            self.freshness(spec, e, newest, j, replaces=after is None)
        else:  # Unique: rows in duplicated keys
            j.failing = int(value or 0)
            j.metric = float(j.failing)
            by_thresholds(j)
        if j.failing and m.rows_sql:
            j.sample = self._sample(m.rows_sql)

    def row_count(self, spec: TableSpec, e: RowCount, rows: int, j: Judged) -> None:
        j.metric = float(rows)
        if e.min is not None and rows < e.min:
            return bad(j, f"min {e.min}")
        if e.max is not None and rows > e.max:
            return bad(j, f"max {e.max}")
        if e.max_change_pct is not None and self.store.exists(spec.id):
            before = self.store.snapshot(spec.id).rows
            change = 100.0 * abs(rows - before) / before if before else 0.0
            if change > e.max_change_pct:
                return bad(j, f"max_change_pct {e.max_change_pct:g} (changed {change:.1f}%)")
        return None

    def freshness(self, spec: TableSpec, e: Freshness, batch_newest: Any, j: Judged, *, replaces: bool) -> None:
        """Judged on the newest of the batch and, unless the batch replaces it, of the table as it
        is (file statistics: no scan)."""
        stored = None if replaces or not self.store.exists(spec.id) else self.store.column_max(spec.id, e.column)
        candidates = [v for v in (batch_newest, stored) if isinstance(v, datetime)]
        newest = max(candidates) if candidates else None
        clock = self.clock() if e.against == "now" else self.data_clock()
        if newest is None or clock is None:
            j.metric = None
            j.threshold = f"max_age_s {e.max_age_s:g}"
            return
        newest_dt = newest if newest.tzinfo else newest.replace(tzinfo=UTC)
        age = (clock - newest_dt).total_seconds()
        j.metric = round(age, 3)
        if age > e.max_age_s:
            bad(j, f"max_age_s {e.max_age_s:g} (against {e.against})")
        else:
            j.threshold = f"max_age_s {e.max_age_s:g}"

    def data_clock(self) -> datetime | None:
        """The newest event time in bronze, from the Delta file statistics (no scan)."""
        if self._data_clock is None:
            newest = [
                self.store.column_max(s.id, s.time_column)
                for s in REGISTRY.specs("bronze")
                if s.time_column and self.store.exists(s.id)
            ]
            found = [v for v in newest if isinstance(v, datetime)]
            self._data_clock = max(found) if found else None
        return self._data_clock

    def _schema(self, spec: TableSpec, staged: str, j: Judged) -> None:
        from lakehouse.contract.arrow import same_type

        got = self.engine.schema(f"SELECT * FROM {staged}")
        declared = [c for c in spec.columns if c.name not in FRAMEWORK_COLUMNS]
        names = [n for n in got.names if n not in FRAMEWORK_COLUMNS]
        problems = []
        if names != [c.name for c in declared]:
            problems.append(f"columns {names} instead of {[c.name for c in declared]}")
        else:
            problems += [f"{c.name} is {got.field(c.name).type}, declared {c.type}"
                         for c in declared if not same_type(c.type, got.field(c.name).type)]
        j.metric = float(len(problems))
        j.failing = len(problems)
        if problems:
            j.error = "; ".join(problems)[:500]
            bad(j, "declared columns and types")
        else:
            j.threshold = "declared columns and types"

    def _sample(self, rows_sql: str) -> list[dict[str, Any]]:
        return sample(self.engine.fetch_dicts(f"SELECT * FROM ({rows_sql}) LIMIT {SAMPLE_ROWS}"))

    def _quarantine(self, model: Model, staged: str, drops: Sequence[Expectation], batch: Batch) -> None:
        sql = quarantine_select(model, staged, drops, self.run_id)
        self.commit_quarantine(model, batch, lambda **options: self.engine.write(QUARANTINE, sql, **options))

    def commit_quarantine(self, model: Model, batch: Batch, write: Callable[..., int]) -> None:
        """Dropped rows -> silver.quarantine through `write(mode=, where=, ...)`, once per batch
        (its markers are the table's own, so a rerun after a crash between the two commits does
        not quarantine them twice)."""
        txns = {f"quarantine:{k}": v for k, v in batch.txns.items()}
        if txns and self.store.txn_versions(QUARANTINE, txns) == txns:
            return  # this batch's drops were committed before a crash: not again
        # A rebuild drops again what earlier runs dropped: it replaces this table's quarantined rows.
        rebuild = batch.remaining is None
        write(
            mode="overwrite" if rebuild else "append",
            where=PartitionFilter("table", (model.table.fqn,)) if rebuild else None,
            partition_by=["quarantine_date"], txns=txns,
            metadata={"lakehouse.job": f"transform.{model.table.layer}", "lakehouse.quarantine_of": model.table.fqn},
        )

    def result(self, table: TableId, j: Judged, version: int | None) -> CheckResult:
        return CheckResult(
            table=table.fqn, check=j.check.name, kind=type(j.check).__name__, action=j.check.action,
            outcome=j.outcome, passed=j.outcome == "pass", failing_rows=j.failing, rows_checked=j.checked,
            metric=j.metric, threshold=j.threshold, sample=j.sample, error=j.error, table_version=version,
            run_id=self.run_id, seconds=j.seconds,
        )
