"""`sessions`: incremental sessionisation that gives exactly what a full rebuild gives.

For each user with new clicks, take the span [first new click - 30 min, last new click +
30 min]; every existing session of that user overlapping the span may change (merge, split,
grow) and nothing outside it can: a session ending more than 30 minutes before the first new
click stays separated from it by a gap > 30 minutes, and likewise after. The affected
sessions and the new clicks are widened to one window per user, all valid clicks in it are
re-sessionised with the same model SQL, and one MERGE replaces the old sessions by the new
ones (session_id is a hash of user and start, so unchanged sessions keep their id).
"""

from __future__ import annotations

from typing import ClassVar

from lakehouse.contract import ModelKind, TableId
from lakehouse.pipeline.kinds.base import Batch, Context, Inputs
from lakehouse.pipeline.registry import Model
from lakehouse.pipeline.sql import literal, quote
from lakehouse.results import ModelResult
from lakehouse.storage.base import MergeSpec

GAP = "INTERVAL 30 MINUTE"


class Sessions:
    name: ClassVar[ModelKind] = "sessions"
    reads_changes: ClassVar[bool] = True

    def incremental(self, ctx: Context, model: Model, inputs: Inputs) -> ModelResult:
        clicks = inputs.only
        engine = ctx.engine
        rows_in = ctx.bind_new_rows(model, inputs, clicks)
        users = engine.materialize(
            "__span",
            f"""SELECT user_id, min(click_timestamp) - {GAP} AS lo, max(click_timestamp) + {GAP} AS hi
                FROM {clicks.fqn} WHERE is_valid GROUP BY user_id""",
        )
        return resessionise(ctx, model, clicks, rows_in=rows_in, users=users, txns=inputs.txns(model.table),
                            mode="incremental")


def resessionise(
    ctx: Context, model: Model, clicks: TableId, *, rows_in: int, users: int, txns: dict[str, int], mode: str,
) -> ModelResult:
    """Recompute the sessions of each user's span in `__span` (user_id, lo, hi) and MERGE them.

    Every existing session overlapping a span is replaced; the span is widened to cover them, so
    a session is always recomputed whole. The incremental run's spans are its new clicks +- 30
    minutes; a backfill's are its date range +- 30 minutes (`txns={}`: markers stay as they are).
    """
    engine = ctx.engine
    engine.bind_table(model.table)
    replaced = engine.materialize(
        "__old",
        f"""SELECT s.session_id, s.user_id, s.session_start, s.session_end, s.session_date
            FROM {model.table.fqn} AS s JOIN __span AS w USING (user_id)
            WHERE s.session_end >= w.lo AND s.session_start <= w.hi""",
    )
    engine.materialize(
        "__window",
        f"""SELECT w.user_id,
                   least(w.lo + {GAP}, min(o.session_start)) AS w_lo,
                   greatest(w.hi - {GAP}, max(o.session_end)) AS w_hi
            FROM __span AS w LEFT JOIN __old AS o USING (user_id)
            GROUP BY w.user_id, w.lo, w.hi""",
    )
    # Re-bind the clicks to every valid click inside each user's window (old and new). Only
    # the UTC days the windows span are read (clicks are partitioned by event_date).
    (first_day, last_day), = engine.rows("SELECT CAST(min(w_lo) AS DATE), CAST(max(w_hi) AS DATE) FROM __window")
    days = (
        f"event_date BETWEEN {literal(first_day)} AND {literal(last_day)}" if first_day is not None else "false"
    )
    engine.bind_table(clicks, name="__all_clicks", where=days)
    engine.bind_query(
        clicks,
        """SELECT c.* FROM __all_clicks AS c
            JOIN __window AS w ON c.user_id = w.user_id
                AND c.click_timestamp >= w.w_lo AND c.click_timestamp <= w.w_hi""",
    )
    rows_out = engine.materialize("__sessions", model.sql)
    remaining = (
        f"SELECT {ctx.columns(model)} FROM {model.table.fqn} AS s "
        "WHERE NOT EXISTS (SELECT 1 FROM __old AS o WHERE o.session_id = s.session_id)"
    )
    staged = ctx.validate(model, Batch("__sessions", txns, remaining))
    engine.materialize(
        "__stage_sessions",
        f"""SELECT n.*, 'upsert' AS _action FROM {staged} AS n
           UNION ALL BY NAME
           SELECT o.session_id, o.user_id, o.session_date, 'delete' AS _action FROM __old AS o
           ANTI JOIN {staged} AS n USING (session_id)""",
    )
    columns = tuple(ctx.store.schema(model.table).names)
    engine.merge(
        model.table,
        f"SELECT {', '.join(quote(c) for c in (*columns, '_action'))} FROM __stage_sessions",
        # session_date (the partition) is a function of session_id's inputs: naming it lets
        # the MERGE read and rewrite only the days that hold the sessions it replaces.
        MergeSpec(
            on=("session_id",), prune=("session_date",), delete_when="s._action = 'delete'",
            update_when="s._action = 'upsert'", insert_when="s._action = 'upsert'", columns=columns,
        ),
        txns=txns or None,
        metadata=ctx.metadata(model, mode),
    )
    return ModelResult(
        table=model.table.fqn, kind=model.kind, mode="incremental", rows_in=rows_in, rows_out=rows_out,
        users=users, replaced=replaced,
    )
