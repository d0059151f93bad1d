"""Incremental sessionisation that gives exactly what a full rebuild gives.

For each user with new clicks, take the span [first new click - 30 min, last new click +
30 min]; every existing session of that user overlapping the span may change (merge,
split, grow) and nothing outside it can: a session ending more than 30 minutes before
the first new click stays separated from it by a gap > 30 minutes, and likewise after.
The affected sessions and the new clicks are widened to one window per user, all valid
clicks in it are re-sessionised with the same model SQL, and one MERGE replaces the old
sessions by the new ones (session_id is a hash of user and start, so unchanged sessions
keep their id).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lakehouse.pipeline.registry import Model

if TYPE_CHECKING:
    from lakehouse.pipeline.engine import Engine
    from lakehouse.pipeline.runner import Inputs, Outcome, PipelineRunner

GAP = "INTERVAL 30 MINUTE"


def run_sessions_incremental(runner: PipelineRunner, engine: Engine, model: Model, inputs: Inputs) -> Outcome:
    from lakehouse.pipeline.runner import Outcome

    (clicks,) = inputs.current
    store = runner.store
    runner.bind_new_rows(engine, clicks, inputs)
    engine.materialize(
        "__span",
        f"""SELECT user_id, min(click_timestamp) - {GAP} AS lo, max(click_timestamp) + {GAP} AS hi,
                   count(*) AS n
            FROM {clicks.fqn} WHERE is_valid GROUP BY user_id""",
    )
    rows_in = engine.scalar(f"SELECT count(*) FROM {clicks.fqn}")
    engine.bind_files(model.table)
    engine.materialize(
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
    rows = engine.con.execute(
        "SELECT CAST(min(w_lo) AS DATE), CAST(max(w_hi) AS DATE) FROM __window"
    ).fetchall()
    first_day, last_day = rows[0] if rows and rows[0][0] is not None else (None, None)
    days = f"event_date BETWEEN DATE '{first_day}' AND DATE '{last_day}'" if first_day else "false"
    engine.bind_files(clicks, name="__all_clicks", where=days)
    engine.bind_sql(
        clicks,
        """SELECT c.* FROM __all_clicks AS c
            JOIN __window AS w ON c.user_id = w.user_id
                AND c.click_timestamp >= w.w_lo AND c.click_timestamp <= w.w_hi""",
    )
    engine.materialize("__sessions", model.sql)
    data = engine.arrow(
        """SELECT n.*, 'upsert' AS _action FROM __sessions AS n
           UNION ALL BY NAME
           SELECT o.session_id, o.user_id, o.session_date, 'delete' AS _action FROM __old AS o
           ANTI JOIN __sessions AS n USING (session_id)"""
    )
    target = [f.name for f in store.open(model.table).schema().to_arrow()]  # type: ignore[attr-defined]
    values = {c: f"s.{c}" for c in target}
    (
        store.merge(
            # session_date (the partition) is a function of session_id's inputs: naming it lets
            # the MERGE read and rewrite only the days that hold the sessions it replaces.
            model.table, data, predicate="t.session_date = s.session_date AND t.session_id = s.session_id",
            txns=inputs.txns(model.table),
            metadata={"lakehouse.job": "transform.silver", "lakehouse.mode": "incremental"},
        )
        .when_matched_delete(predicate="s._action = 'delete'")
        .when_matched_update(updates=values, predicate="s._action = 'upsert'")
        .when_not_matched_insert(updates=values, predicate="s._action = 'upsert'")
        .execute()
    )
    runner.ensure_recorded(model.table, inputs)
    n_new = engine.scalar("SELECT count(*) FROM __sessions")
    n_old = engine.scalar("SELECT count(*) FROM __old")
    return Outcome(
        "incremental", rows_in=rows_in, rows_out=n_new,
        details={"users": engine.scalar("SELECT count(*) FROM __span"),
                 "sessions_replaced": n_old},
    )

