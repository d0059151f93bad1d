"""`partition`: the UTC dates touched by new input rows are recomputed from all input rows of
those dates and replace the same dates in the table, atomically (daily and hourly aggregates).
"""

from __future__ import annotations

from typing import ClassVar

import pyarrow.compute as pc

from lakehouse.contract import REGISTRY, ModelKind, TableId
from lakehouse.exceptions import ConfigError
from lakehouse.pipeline.kinds.base import Batch, Context, Inputs
from lakehouse.pipeline.kinds.retained import frozen_before
from lakehouse.pipeline.registry import Model
from lakehouse.pipeline.sql import in_list
from lakehouse.results import ModelResult
from lakehouse.storage.base import PartitionFilter


def touched_partitions(ctx: Context, inputs: Inputs) -> list[str]:
    """Values of the inputs' partition column among the rows appended since last consumed."""
    values: set[str] = set()
    for t, current in inputs.current.items():
        consumed = inputs.consumed[t]
        if current is None or consumed == current:
            continue
        column = _partition_column(t)
        reader, _ = ctx.store.changes(t, consumed or 0, columns=[column])
        for batch in reader:
            values.update(str(v) for v in pc.unique(batch.column(0)).to_pylist() if v is not None)
    return sorted(values)


def _partition_column(t: TableId) -> str:
    spec = REGISTRY.get(t)
    if not spec.partition_by:
        raise ConfigError(f"{spec.fqn} is read by a partition model but is not partitioned")
    return spec.partition_by[0]


class Partition:
    name: ClassVar[ModelKind] = "partition"
    reads_changes: ClassVar[bool] = True

    def incremental(self, ctx: Context, model: Model, inputs: Inputs) -> ModelResult:
        dates = touched_partitions(ctx, inputs)
        frozen = frozen_before(ctx, model, inputs)
        if frozen is not None:  # dates retention trimmed are not recomputed (`retained.py`)
            dates = [d for d in dates if d >= frozen.isoformat()]
        column = model.partition_column
        if column is None:
            raise ConfigError(f"{model.table} is a partition model without a partition column")
        if not dates:
            # Inputs moved (e.g. compaction) without new rows: just record the new versions.
            ctx.store.record(model.table, inputs.txns(model.table), metadata=ctx.metadata(model, "incremental"))
            return ModelResult(table=model.table.fqn, kind=self.name, mode="incremental", reason="no new rows")
        return replace_dates(ctx, model, inputs, dates, txns=inputs.txns(model.table), mode="incremental")


def replace_dates(
    ctx: Context, model: Model, inputs: Inputs, dates: list[str], *, txns: dict[str, int], mode: str,
) -> ModelResult:
    """Recompute `dates` from all input rows of those dates and replace them in one commit
    (also what a backfill does, with no markers: `txns={}`)."""
    column = model.partition_column
    if column is None:
        raise ConfigError(f"{model.table} is a partition model without a partition column")
    for t, version in inputs.current.items():
        ctx.bind_input(t, version, where=in_list(_partition_column(t), dates))
    rows_in = sum(ctx.count(t) for t in inputs.current)
    stage = f"__stage_{model.table.name}"
    rows_out = ctx.engine.materialize(stage, model.sql)
    target = ctx.bind_target(model)
    remaining = None if target is None else (
        f"SELECT {ctx.columns(model)} FROM {target} WHERE NOT ({in_list(column, dates)})"
    )
    staged = ctx.validate(model, Batch(stage, txns, remaining))
    ctx.engine.write(
        model.table, f"SELECT * FROM {staged}", mode="overwrite",
        where=PartitionFilter(column, tuple(dates)), txns=txns or None, metadata=ctx.metadata(model, mode),
    )
    return ModelResult(
        table=model.table.fqn, kind=model.kind, mode="incremental", rows_in=rows_in, rows_out=rows_out,
        partitions=dates,
    )
