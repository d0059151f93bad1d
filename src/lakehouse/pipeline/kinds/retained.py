"""What a model must not recompute once retention has trimmed its inputs (or its own table).

Retention archives and deletes rows dated before a table's horizon (`storage.base.horizon`,
recorded with the DELETE). A model reading a trimmed input can no longer rebuild its own rows
for those dates, so rebuilding them would silently shrink the table to the inputs' window
(gold kept for 90 days rebuilt from 30 days of silver). The rule, for every kind and for
`--full-refresh` alike:

- a table with an event date (`retention_column`): rows dated before the frozen date (the
  latest horizon among the model's inputs and the table itself) are kept exactly as they are;
  only later dates are recomputed (a `partition` model skips touched dates before it); a
  `unique_key` table (rows, not aggregates) also takes recomputed rows of earlier dates whose
  key it does not hold yet, as its incremental runs do;
- a `cdc_merge` table (current state from a change log, tombstones kept): rows whose key the
  trimmed log no longer mentions are kept; the log's latest change wins for the others;
- any other table (current-state measures: silver.users, gold.user_segments) is rebuilt from
  what its inputs still hold: its measures cover the inputs' retained window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from lakehouse.pipeline.kinds.base import Context, Inputs
from lakehouse.pipeline.registry import Model
from lakehouse.pipeline.sql import literal, quote
from lakehouse.storage.base import inputs_horizon


@dataclass(frozen=True)
class Kept:
    """How a rebuild commits: `new` names the recomputed rows to write, `kept` is a SELECT of the
    table's rows that stay as they are (None: the rebuild replaces everything)."""

    new: str
    kept: str | None = None
    frozen_before: date | None = None


def frozen_before(ctx: Context, model: Model, inputs: Inputs) -> date | None:
    """The first date a model may recompute (None: every date)."""
    own = [model.table] if model.spec.retention_column else []
    return inputs_horizon(ctx.store, [*inputs.current, *own])


def keep(ctx: Context, model: Model, inputs: Inputs, staged: str) -> Kept:
    """Split a rebuild of `model` (its recomputed rows are `staged`) by the rule above."""
    if not ctx.store.exists(model.table):
        return Kept(staged)
    frozen = frozen_before(ctx, model, inputs)
    if frozen is None:
        return Kept(staged)
    cols, col = ctx.columns(model), model.spec.retention_column
    target = ctx.bind_target(model)
    name = f"__recomputed_{model.table.layer}_{model.table.name}"
    if col is not None:
        kept = f"SELECT {cols} FROM {target} WHERE {quote(col)} < {literal(frozen)}"
        # The model's own columns (the quality gate adds its flags after): not the declared list.
        if model.kind == "unique_key" and model.model.key is not None:
            # Rows are not aggregates: every recomputed row is right on its own, so only keys the
            # kept rows already hold are left out (late rows for trimmed days stay, as an
            # incremental run appends them).
            key = quote(model.model.key)
            new = f"SELECT * FROM {staged} WHERE {key} NOT IN (SELECT {key} FROM ({kept}) WHERE {key} IS NOT NULL)"
        else:
            new = f"SELECT * FROM {staged} WHERE {quote(col)} >= {literal(frozen)}"
        ctx.engine.bind_query(name, new)
        return Kept(name, kept, frozen)
    if model.kind == "cdc_merge" and model.model.key is not None:
        key = quote(model.model.key)
        ctx.engine.materialize(name, f"SELECT * FROM {staged}")
        kept = f"SELECT {cols} FROM {target} AS t WHERE NOT EXISTS (SELECT 1 FROM {name} AS s WHERE s.{key} = t.{key})"
        return Kept(name, kept, frozen)
    return Kept(staged, None, frozen)
