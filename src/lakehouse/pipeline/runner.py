"""Runs the SQL models of a layer, incrementally by default.

What each model has already consumed is recorded in its own Delta commits: one application
transaction id per input table, whose version is the input's Delta version the commit
covers. A rerun with no new input changes nothing; a run killed midway resumes correctly
because progress and data are committed together.

How a model is materialised depends on its `kind` (see `registry.py`):

- `unique_key`: new input rows are deduplicated on the key (earliest by `order` wins) and
  the keys already in the table are dropped; the rest is appended.
- `partition`: the UTC dates touched by new input rows are recomputed from all input rows
  of those dates and replace the same dates in the table, atomically.
- `full`: recomputed whenever an input changed (small aggregate outputs).
- `sessions`: see `sessions.py`.
- `cdc_merge`: the latest change per key in the new CDC rows is MERGEd by sequence.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pyarrow as pa

from lakehouse.config import Settings
from lakehouse.pipeline.engine import Engine, sql_list
from lakehouse.pipeline.registry import Model, load_models
from lakehouse.reports import RunReport
from lakehouse.storage.delta import DeltaStore
from lakehouse.storage.names import TableId

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
_DATE_DIR = re.compile(r"(?:^|/)event_date=(\d{4}-\d{2}-\d{2})/")


def empty_input(t: TableId) -> pa.Table:
    """An empty table with a bronze table's contract schema, for sources with no data yet."""
    if t.layer != "bronze":
        raise ValueError(f"{t} must be built before the models that read it")
    from lakehouse.ingest.schemas import QUARANTINE_SCHEMA, bronze_schema

    return (QUARANTINE_SCHEMA if t.name == "quarantine" else bronze_schema(t.name)).empty_table()


def app_id(target: TableId, source: TableId) -> str:
    return f"transform:{target.fqn}<-{source.fqn}"


@dataclass
class Inputs:
    """Per input: the version last consumed (None: never) and the current version."""

    consumed: dict[TableId, int | None] = field(default_factory=dict)
    current: dict[TableId, int | None] = field(default_factory=dict)  # None: not built yet

    @property
    def changed(self) -> bool:
        return any(self.consumed[t] != self.current[t] for t in self.current)

    @property
    def all_consumed(self) -> bool:
        return all(v is not None for v in self.consumed.values())

    def txns(self, target: TableId) -> dict[str, int]:
        return {app_id(target, t): v for t, v in self.current.items() if v is not None}


@dataclass
class Outcome:
    mode: str  # full | incremental | skipped
    rows_in: int = 0
    rows_out: int = 0
    details: dict[str, Any] = field(default_factory=dict)


class PipelineRunner:
    def __init__(self, settings: Settings, store: DeltaStore) -> None:
        self.settings = settings
        self.store = store

    def models(self, layer: str) -> list[Model]:
        return [m for m in load_models() if m.table.layer == layer]

    def run_layer(self, layer: str, *, full_refresh: bool = False, progress: Progress | None = None) -> RunReport:
        report = RunReport(job=f"transform.{layer}")
        report.details["full_refresh"] = full_refresh
        models = self.models(layer)
        engine = Engine(self.settings, self.store)
        try:
            for i, model in enumerate(models):
                change = report.table(model.table.fqn)
                change.version_before = self.store.version(model.table)
                t0 = time.perf_counter()
                outcome = self.run_model(engine, model, full_refresh=full_refresh)
                change.rows_in, change.rows_out = outcome.rows_in, outcome.rows_out
                change.version_after = self.store.version(model.table)
                report.details.setdefault("models", {})[model.table.fqn] = {
                    "mode": outcome.mode,
                    "seconds": round(time.perf_counter() - t0, 3),
                    **outcome.details,
                }
                if progress:
                    progress(model.table.fqn, i + 1, len(models))
        except BaseException as exc:
            report.finish("failed", str(exc))
            raise
        finally:
            engine.close()
        return report.finish()

    # -- dispatch -------------------------------------------------------------------------------
    def run_model(self, engine: Engine, model: Model, *, full_refresh: bool = False) -> Outcome:
        inputs = self._inputs(model)
        exists = self.store.exists(model.table)
        if exists and not full_refresh and not inputs.changed:
            return Outcome("skipped", details={"reason": "no new input"})
        incremental = exists and not full_refresh and inputs.all_consumed
        if not incremental or model.kind == "full":
            return self._full(engine, model, inputs)
        try:
            if model.kind == "unique_key":
                return self._unique_key(engine, model, inputs)
            if model.kind == "partition":
                return self._partition(engine, model, inputs)
            if model.kind == "sessions":
                from lakehouse.pipeline.sessions import run_sessions_incremental

                return run_sessions_incremental(self, engine, model, inputs)
            if model.kind == "cdc_merge":
                return self._cdc_merge(engine, model, inputs)
        except FileNotFoundError:
            # A log entry we needed was cleaned up: rebuild from scratch, which is always right.
            log.warning("%s: input history no longer available, running a full refresh", model.table)
            return self._full(engine, model, inputs)
        raise ValueError(f"unknown model kind '{model.kind}' in {model.table}")

    def _inputs(self, model: Model) -> Inputs:
        inputs = Inputs()
        consumed = self.store.txn_versions(model.table, [app_id(model.table, t) for t in model.depends_on])
        for t in model.depends_on:
            inputs.current[t] = self.store.version(t)
            inputs.consumed[t] = consumed.get(app_id(model.table, t))
        return inputs

    def partition_column(self, model: Model) -> str | None:
        return model.options.get("partition")

    # -- kinds ----------------------------------------------------------------------------------
    def select_sql(self, model: Model) -> str:
        """The model's SELECT, with the dedup step for unique_key models."""
        if model.kind == "unique_key":
            # Duplicates are rare: find the duplicated keys with a hash aggregate, pass every
            # other row straight through, and rank only the duplicated ones. Much cheaper than
            # a window over every row, same result.
            key = model.options["key"]
            order = model.options.get("order", "_ingested_at")
            return f"""WITH __m AS ({model.sql}),
                __dup AS (SELECT {key} FROM __m GROUP BY {key} HAVING count(*) > 1)
            SELECT * FROM __m ANTI JOIN __dup USING ({key})
            UNION ALL
            SELECT * FROM (SELECT * FROM __m SEMI JOIN __dup USING ({key}))
            QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {order}) = 1"""
        return model.sql

    def _full(self, engine: Engine, model: Model, inputs: Inputs) -> Outcome:
        for t, version in inputs.current.items():
            if version is None:  # not built yet (no such source data): an empty input
                engine.bind_arrow(t, empty_input(t))
            else:
                engine.bind_files(t)
        rows_in = sum(self._count(engine, t) for t in inputs.current)
        data = engine.query(self.select_sql(model)).to_arrow_reader(batch_size=256_000)
        pcol = self.partition_column(model)
        self.store.replace(
            model.table,
            data,
            partition_by=[pcol] if pcol else None,
            txns=inputs.txns(model.table),
            metadata={"lakehouse.job": f"transform.{model.table.layer}", "lakehouse.mode": "full"},
        )
        return Outcome("full", rows_in=rows_in, rows_out=self._rows(model.table))

    def _unique_key(self, engine: Engine, model: Model, inputs: Inputs) -> Outcome:
        (source,) = inputs.current
        files = self.bind_new_rows(engine, source, inputs)
        rows_in = self._count(engine, source)
        key = model.options["key"]
        engine.bind_files(model.table)
        engine.materialize(
            "__new",
            f"SELECT n.* FROM ({self.select_sql(model)}) AS n "
            f"ANTI JOIN (SELECT {key} FROM {model.table.fqn}) AS old USING ({key})",
        )
        data = engine.arrow("SELECT * FROM __new")
        self.store.append(
            model.table,
            data,
            txns=inputs.txns(model.table),
            metadata={"lakehouse.job": f"transform.{model.table.layer}", "lakehouse.mode": "incremental"},
        )
        return Outcome("incremental", rows_in=rows_in, rows_out=data.num_rows, details={"new_files": len(files)})

    def affected_dates(self, inputs: Inputs) -> list[date]:
        dates: set[str] = set()
        for t, consumed in inputs.consumed.items():
            files, _ = self.store.added_files_since(t, consumed or 0)
            for f in files:
                m = _DATE_DIR.search(f)
                if m is None:  # an input that is not partitioned by event_date
                    raise ValueError(f"{t} is not partitioned by event_date")
                dates.add(m.group(1))
        return sorted(date.fromisoformat(d) for d in dates)

    def _partition(self, engine: Engine, model: Model, inputs: Inputs) -> Outcome:
        dates = self.affected_dates(inputs)
        pcol = self.partition_column(model) or "event_date"
        if not dates:
            # Inputs moved (e.g. compaction) without new rows: just record the new versions.
            self.store.append(model.table, self._empty_like(model.table), txns=inputs.txns(model.table))
            return Outcome("incremental", details={"partitions": 0})
        in_list = sql_list(dates)
        for t in inputs.current:
            engine.bind_files(t, where=f"event_date IN ({in_list})")
        rows_in = sum(self._count(engine, t) for t in inputs.current)
        data = engine.arrow(self.select_sql(model))
        self.store.replace(
            model.table,
            data,
            predicate=f"{pcol} IN ({', '.join(repr(d.isoformat()) for d in dates)})",
            txns=inputs.txns(model.table),
            metadata={"lakehouse.job": f"transform.{model.table.layer}", "lakehouse.mode": "incremental"},
        )
        return Outcome(
            "incremental", rows_in=rows_in, rows_out=data.num_rows,
            details={"partitions": len(dates), "dates": [d.isoformat() for d in dates[:31]]},
        )

    def _cdc_merge(self, engine: Engine, model: Model, inputs: Inputs) -> Outcome:
        (source,) = inputs.current
        self.bind_new_rows(engine, source, inputs)
        rows_in = self._count(engine, source)
        changes = engine.arrow(model.sql)
        key, seq = model.options["key"], model.options.get("sequence", "seq")
        target_cols = [f.name for f in self.store.open(model.table).schema().to_arrow()]  # type: ignore[attr-defined]
        changes = changes.select(target_cols)
        (
            self.store.merge(
                model.table, changes, predicate=f"t.{key} = s.{key}", txns=inputs.txns(model.table),
                metadata={"lakehouse.job": f"transform.{model.table.layer}", "lakehouse.mode": "incremental"},
            )
            .when_matched_update_all(predicate=f"s.{seq} > t.{seq}")
            .when_not_matched_insert_all()
            .execute()
        )
        self.ensure_recorded(model.table, inputs)
        return Outcome("incremental", rows_in=rows_in, rows_out=changes.num_rows)

    # -- helpers --------------------------------------------------------------------------------
    def bind_new_rows(self, engine: Engine, source: TableId, inputs: Inputs) -> list[str]:
        """Bind `source` to the rows appended since the version this model last consumed."""
        files, _ = self.store.added_files_since(source, inputs.consumed[source] or 0)
        root = self.store.path(source)
        engine.bind_files(source, [str(root / f) for f in files])
        return files
    def ensure_recorded(self, table: TableId, inputs: Inputs) -> None:
        """A MERGE that changes no row commits nothing; record the consumed versions anyway."""
        txns = inputs.txns(table)
        recorded = self.store.txn_versions(table, txns)
        if recorded != txns:
            self.store.append(table, self._empty_like(table), txns=txns)

    def _count(self, engine: Engine, t: TableId) -> int:
        return engine.scalar(f"SELECT count(*) FROM {t.fqn}")

    def _rows(self, t: TableId) -> int:
        return self.store.info(t).rows

    def _empty_like(self, t: TableId) -> pa.Table:
        return pa.schema(self.store.open(t).schema().to_arrow()).empty_table()
