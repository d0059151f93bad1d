"""`cdc_merge`: the current state of a source table from its change log.

The model selects the latest change per key among the new CDC rows; it is MERGEd by the
change sequence (a row is replaced only by a later change), and deletes stay as tombstones,
so a late, older change can never bring a deleted row back.
"""

from __future__ import annotations

from typing import ClassVar

from lakehouse.contract import ModelKind
from lakehouse.pipeline.kinds.base import Batch, Context, Inputs
from lakehouse.pipeline.registry import Model
from lakehouse.pipeline.sql import quote
from lakehouse.results import ModelResult
from lakehouse.storage.base import MergeSpec


class CdcMerge:
    name: ClassVar[ModelKind] = "cdc_merge"
    reads_changes: ClassVar[bool] = True

    def incremental(self, ctx: Context, model: Model, inputs: Inputs) -> ModelResult:
        spec = model.model
        assert spec.key is not None and spec.sequence is not None
        rows_in = ctx.bind_new_rows(model, inputs, inputs.only)
        stage = f"__stage_{model.table.name}"
        rows_out = ctx.engine.materialize(stage, model.sql)
        target, key = ctx.bind_target(model), quote(spec.key)
        remaining = None if target is None else (
            f"SELECT {ctx.columns(model)} FROM {target} AS t "
            f"WHERE NOT EXISTS (SELECT 1 FROM {stage} AS s WHERE s.{key} = t.{key})"
        )
        staged = ctx.validate(model, Batch(stage, inputs.txns(model.table), remaining))
        columns = tuple(ctx.store.schema(model.table).names)
        ctx.engine.merge(
            model.table,
            f"SELECT {', '.join(quote(c) for c in columns)} FROM {staged}",
            MergeSpec(on=(spec.key,), update_when=f"s.{quote(spec.sequence)} > t.{quote(spec.sequence)}", columns=columns),
            txns=inputs.txns(model.table),
            metadata=ctx.metadata(model, "incremental"),
        )
        return ModelResult(
            table=model.table.fqn, kind=self.name, mode="incremental", rows_in=rows_in, rows_out=rows_out
        )
