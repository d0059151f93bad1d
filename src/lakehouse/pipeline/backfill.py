"""`lakehouse backfill --from D1 --to D2`: rebuild a range of event dates of silver and gold.

Rows of other dates are left as they are, and so are the incremental progress markers: a
backfill commit carries no `transform:` marker, so the next incremental run reads exactly the
input it would have read anyway. It may find rows the backfill already wrote (input that
arrived after the last run, dated in the range); every kind absorbs them without a duplicate
(unique_key anti-joins existing keys, partition and sessions recompute, MERGEs are keyed).

Per kind:
- `partition`: the range's dates are recomputed from the input rows of those dates and replace
  the same dates, atomically.
- `unique_key`: the rows whose event date is in the range, deduplicated exactly as a full build
  does (the earliest ingested copy of a key wins, wherever that copy's date lies), replace the
  range's partitions.
- `sessions`: every session touching the range, or within 30 minutes of it (those crossing its
  edges, which may start or end on a date outside it), is recomputed whole from the clicks.
- `cdc_merge`: current state per key is not by date, so a date range cannot rebuild part of it:
  skipped, unless named in `--tables`, then rebuilt whole from the complete change log.
- `full`: rebuilt from its inputs as they are now (what its next run would do anyway).
Tables not built yet are skipped (building one would write every date).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Literal

from lakehouse.contract import REGISTRY, ModelKind, TableId
from lakehouse.exceptions import ConfigError, InputError, TableNotFoundError
from lakehouse.pipeline.kinds import Batch, Context, rebuild
from lakehouse.pipeline.kinds.partition import _partition_column, replace_dates
from lakehouse.pipeline.kinds.sessions import GAP, resessionise
from lakehouse.pipeline.kinds.sql import select_sql
from lakehouse.pipeline.registry import Model, load_models
from lakehouse.pipeline.runner import ModelJob
from lakehouse.pipeline.sql import in_list, literal, quote
from lakehouse.results import CheckResult, JobResult
from lakehouse.storage.base import Metadata, PartitionFilter

log = logging.getLogger(__name__)

MAX_DAYS = 3660  # a range longer than this is a full refresh: `lakehouse transform --full-refresh`
Action = Literal["replaced", "rebuilt", "skipped"]


@dataclass(kw_only=True)
class BackfillModel:
    table: str
    kind: ModelKind
    action: Action
    rows_in: int = 0
    rows_out: int = 0
    reason: str | None = None
    seconds: float = 0.0


@dataclass(kw_only=True)
class BackfillResult(JobResult):
    date_from: str
    date_to: str
    models: list[BackfillModel] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    failed_table: str | None = None

    def model(self, table: str) -> BackfillModel | None:
        return next((m for m in self.models if m.table == table), None)


class _BackfillContext(Context):
    """Commits say they are a backfill (in `lakehouse history`), with the range."""

    span: str = ""

    def metadata(self, model: Model, mode: str) -> Metadata:
        return {"lakehouse.job": "backfill", "lakehouse.mode": mode, "lakehouse.range": self.span}


def select_models(tables: list[str] | None) -> tuple[list[Model], set[TableId]]:
    """The models to backfill, in dependency order, and the ones the user named."""
    models = [m for m in load_models() if m.table.layer in ("silver", "gold")]
    if not tables:
        return models, set()
    named: set[TableId] = set()
    for name in tables:
        try:
            t = REGISTRY.resolve(name)
        except TableNotFoundError as exc:
            raise InputError(str(exc.message), hint=exc.hint) from None
        if not any(m.table == t for m in models):
            raise InputError(f"{t} is not a silver or gold model", hint="backfill rebuilds silver and gold tables")
        named.add(t)
    return [m for m in models if m.table in named], named


class Backfill(ModelJob):
    @staticmethod
    def check(date_from: date, date_to: date, tables: list[str] | None = None) -> tuple[list[Model], set[TableId]]:
        """The request's mistakes, before any work: a one-line InputError each."""
        if date_from > date_to:
            raise InputError(f"--from {date_from} is after --to {date_to}")
        days = (date_to - date_from).days + 1
        if days > MAX_DAYS:
            raise InputError(f"{days} days is too long a backfill", hint="use `lakehouse transform --full-refresh`")
        return select_models(tables)

    def run(self, date_from: date, date_to: date, tables: list[str] | None = None) -> BackfillResult:
        models, named = self.check(date_from, date_to, tables)
        dates = [(date_from + timedelta(days=i)).isoformat() for i in range((date_to - date_from).days + 1)]
        result = BackfillResult(job="backfill", date_from=date_from.isoformat(), date_to=date_to.isoformat())
        self.walk(result, models, lambda model: self._one(model, dates, named, result),
                  lambda model, out: result.models.append(out))
        return result

    def _one(self, model: Model, dates: list[str], named: set[TableId], result: BackfillResult) -> BackfillModel:
        fqn, kind = model.table.fqn, model.kind
        if kind == "cdc_merge" and model.table not in named:
            return BackfillModel(table=fqn, kind=kind, action="skipped", reason=(
                "current state per key is not by date; name it in --tables to rebuild it whole from the change log"))
        if not self.store.exists(model.table):
            return BackfillModel(table=fqn, kind=kind, action="skipped",
                                 reason="not built yet (run `lakehouse transform` first)")
        missing = [t.fqn for t in model.depends_on if not self.store.exists(t)]
        if missing and kind in ("unique_key", "sessions"):
            return BackfillModel(table=fqn, kind=kind, action="skipped",
                                 reason=f"its input {', '.join(missing)} is not built: nothing to rebuild from")
        engine = self._engine()
        gate = self._gate(engine, result.run_id)
        ctx = _BackfillContext(self.settings, self.store, engine, validate=gate)
        ctx.span = f"{dates[0]}..{dates[-1]}"
        try:
            inputs = self.inputs(model)
            if kind in ("full", "cdc_merge"):
                done = rebuild(ctx, model, inputs)
                return BackfillModel(table=fqn, kind=kind, action="rebuilt", rows_in=done.rows_in, rows_out=done.rows_out)
            if kind == "partition":
                m = replace_dates(ctx, model, inputs, dates, txns={}, mode="backfill")
                rows = _Done(m.rows_in, m.rows_out)
            elif kind == "unique_key":
                rows = _unique_key(ctx, model, dates)
            else:
                rows = _sessions(ctx, model, dates)
            return BackfillModel(table=fqn, kind=kind, action="replaced", rows_in=rows.rows_in, rows_out=rows.rows_out)
        finally:
            result.checks.extend(gate.results)
            engine.close()


def _unique_key(ctx: _BackfillContext, model: Model, dates: list[str]) -> _Done:
    (source,) = model.depends_on
    key = model.model.key
    column = model.partition_column
    src_column = _partition_column(source)
    if key is None or column is None:
        raise ConfigError(f"{model.table}: a unique_key model needs a key and a partition column to backfill")
    if key not in ctx.store.schema(source).names:
        raise ConfigError(f"{model.table}: its key '{key}' is not a column of {source}; cannot backfill by date")
    engine, k = ctx.engine, quote(key)
    in_range = in_list(src_column, dates)
    # Copies of the range's keys dated elsewhere take part in the dedup (the earliest ingested
    # copy wins wherever it lies): find their dates reading only two columns, then read the
    # range's partitions and theirs.
    engine.bind_table(source, name="__bf_source")
    engine.materialize("__bf_keys", f"SELECT DISTINCT {k} FROM __bf_source WHERE {in_range}")
    other = [str(r[0]) for r in engine.rows(
        f"SELECT DISTINCT {quote(src_column)} FROM __bf_source SEMI JOIN __bf_keys USING ({k}) "
        f"WHERE NOT ({in_range}) AND {quote(src_column)} IS NOT NULL"
    )]
    engine.bind_table(source, where=in_list(src_column, sorted({*dates, *other})))
    if other:
        engine.bind_query("__bf_narrow", f"SELECT * FROM {source.fqn}")
        engine.materialize("__bf_input", f"SELECT * FROM __bf_narrow WHERE {in_range} OR {k} IN (SELECT {k} FROM __bf_keys)")
        engine.bind_query(source, "SELECT * FROM __bf_input")
    rows_in = ctx.count(source)
    target = ctx.bind_target(model)
    assert target is not None
    outside = f"SELECT {k} FROM {target} WHERE NOT ({in_list(column, dates)})"
    stage = f"__stage_{model.table.name}"
    # A key the table holds on another date stays there (a key is written once).
    rows_out = engine.materialize(
        stage,
        f"SELECT * FROM (SELECT n.* FROM ({select_sql(model)}) AS n WHERE {in_list(column, dates)}) AS n "
        f"ANTI JOIN ({outside}) AS o USING ({k})",
    )
    remaining = f"SELECT {ctx.columns(model)} FROM {target} WHERE NOT ({in_list(column, dates)})"
    staged = ctx.validate(model, Batch(stage, {}, remaining))
    engine.write(
        model.table, f"SELECT * FROM {staged}", mode="overwrite", where=PartitionFilter(column, tuple(dates)),
        metadata=ctx.metadata(model, "backfill"),
    )
    return _Done(rows_in, rows_out)


def _sessions(ctx: _BackfillContext, model: Model, dates: list[str]) -> _Done:
    (clicks,) = model.depends_on
    engine = ctx.engine
    start = datetime.combine(date.fromisoformat(dates[0]), dtime(0), UTC)
    end = datetime.combine(date.fromisoformat(dates[-1]) + timedelta(days=1), dtime(0), UTC)
    ws, we = f"CAST({literal(start.isoformat())} AS TIMESTAMPTZ)", f"CAST({literal(end.isoformat())} AS TIMESTAMPTZ)"
    around = (
        f"event_date BETWEEN {literal(date.fromisoformat(dates[0]) - timedelta(days=1))} "
        f"AND {literal(date.fromisoformat(dates[-1]) + timedelta(days=1))}"
    )
    engine.bind_table(clicks, name="__bf_clicks", where=around)
    engine.bind_table(model.table)
    # Every user with a valid click in the range or a session within 30 minutes of it: their
    # spans are the range +- 30 minutes (resessionise widens them to whole sessions).
    users = engine.materialize(
        "__span",
        f"""SELECT user_id, {ws} - {GAP} AS lo, {we} + {GAP} AS hi FROM (
                SELECT user_id FROM __bf_clicks WHERE is_valid AND click_timestamp >= {ws} AND click_timestamp < {we}
                UNION
                SELECT user_id FROM {model.table.fqn}
                WHERE session_end >= {ws} - {GAP} AND session_start <= {we} + {GAP})""",
    )
    rows_in = int(engine.scalar(
        f"SELECT count(*) FROM __bf_clicks WHERE click_timestamp >= {ws} AND click_timestamp < {we}"
    ) or 0)
    done = resessionise(ctx, model, clicks, rows_in=rows_in, users=users, txns={}, mode="backfill")
    return _Done(done.rows_in, done.rows_out)


@dataclass(frozen=True)
class _Done:
    rows_in: int
    rows_out: int
