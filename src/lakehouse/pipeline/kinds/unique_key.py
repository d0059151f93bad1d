"""`unique_key`: deduplicated, append-only tables (silver events, clicks, transactions, logs).

New input rows are deduplicated on the key (earliest by `order` wins), the keys already in
the table are dropped, and the rest is appended: a key is written once, whenever it arrives.
"""

from __future__ import annotations

from typing import ClassVar

from lakehouse.contract import ModelKind
from lakehouse.pipeline.kinds.base import Batch, Context, Inputs
from lakehouse.pipeline.kinds.sql import select_sql
from lakehouse.pipeline.registry import Model
from lakehouse.pipeline.sql import quote
from lakehouse.results import ModelResult


class UniqueKey:
    name: ClassVar[ModelKind] = "unique_key"
    reads_changes: ClassVar[bool] = True

    def incremental(self, ctx: Context, model: Model, inputs: Inputs) -> ModelResult:
        source = inputs.only
        rows_in = ctx.bind_new_rows(model, inputs, source)
        assert model.model.key is not None
        key = quote(model.model.key)
        ctx.engine.bind_table(model.table)
        stage = f"__stage_{model.table.name}"
        rows_out = ctx.engine.materialize(
            stage,
            f"SELECT n.* FROM ({select_sql(model)}) AS n "
            f"ANTI JOIN (SELECT {key} FROM {model.table.fqn}) AS old USING ({key})",
        )
        remaining = f"SELECT {ctx.columns(model)} FROM {model.table.fqn}"
        staged = ctx.validate(model, Batch(stage, inputs.txns(model.table), remaining))
        ctx.engine.write(
            model.table, f"SELECT * FROM {staged}", mode="append", txns=inputs.txns(model.table),
            metadata=ctx.metadata(model, "incremental"),
        )
        return ModelResult(
            table=model.table.fqn, kind=self.name, mode="incremental", rows_in=rows_in, rows_out=rows_out
        )
