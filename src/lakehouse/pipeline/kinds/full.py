"""`full`: the model is recomputed from all its input whenever an input moved (small outputs).

`rebuild` is also how every other kind runs a full refresh or a first build: the model's
rows stream from the engine into one overwrite of the whole table.
"""

from __future__ import annotations

from typing import ClassVar

from lakehouse.contract import ModelKind
from lakehouse.pipeline.kinds.base import Batch, Context, Inputs
from lakehouse.pipeline.kinds.retained import keep
from lakehouse.pipeline.kinds.sql import select_sql
from lakehouse.pipeline.registry import Model
from lakehouse.results import ModelResult


def rebuild(ctx: Context, model: Model, inputs: Inputs, reason: str | None = None) -> ModelResult:
    for t, version in inputs.current.items():
        ctx.bind_input(t, version)
    rows_in = sum(ctx.count(t) for t in inputs.current)
    # Rows retention made impossible to recompute stay as they are (`retained.py`).
    split = keep(ctx, model, inputs, _staged_view(ctx, model))
    # Checked on the way into the commit where the engine can (no staging), else staged first.
    staged, audit = ctx.validate.streamed(
        model, Batch(split.new, inputs.txns(model.table), split.kept, materialized=False)
    )
    rows = f"SELECT * FROM {staged}" + (f" UNION ALL BY NAME {split.kept}" if split.kept else "")
    if split.frozen_before is not None:
        note = "rows {} kept".format(f"dated before {split.frozen_before}" if model.spec.retention_column else
                                     "of keys the trimmed input no longer holds") if split.kept else \
            f"inputs retained from {split.frozen_before}"
        reason = "; ".join(filter(None, [reason, note]))
    ctx.engine.write(
        model.table, rows, mode="overwrite",
        partition_by=model.spec.partition_by or None, txns=inputs.txns(model.table),
        metadata=ctx.metadata(model, "full"), audit=audit,
    )
    return ModelResult(
        table=model.table.fqn, kind=model.kind, mode="full", rows_in=rows_in,
        rows_out=ctx.store.info(model.table).rows, reason=reason,
    )


def _staged_view(ctx: Context, model: Model) -> str:
    # A view, not a materialised table: a full build streams from the engine into the commit.
    name = f"__stage_{model.table.layer}_{model.table.name}"
    ctx.engine.bind_query(name, select_sql(model))
    return name


class Full:
    name: ClassVar[ModelKind] = "full"
    reads_changes: ClassVar[bool] = False

    def incremental(self, ctx: Context, model: Model, inputs: Inputs) -> ModelResult:
        return rebuild(ctx, model, inputs)
