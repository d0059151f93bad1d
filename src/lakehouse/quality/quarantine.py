"""`silver.quarantine`: where the rows a `drop` check keeps out of a table go, with the reason."""

from __future__ import annotations

from collections.abc import Sequence

from lakehouse.contract import TableId
from lakehouse.contract.expectations import Expectation
from lakehouse.pipeline.registry import Model
from lakehouse.pipeline.sql import literal
from lakehouse.quality.compile import ROW, violated

QUARANTINE = TableId("silver", "quarantine")


def quarantine_select(model: Model, relation: str, drops: Sequence[Expectation], run_id: str) -> str:
    """The quarantine's rows for the rows of `relation` that violate a `drop` check."""
    reasons = " ".join(f"WHEN {violated(e)} THEN {literal(e.name)}" for e in drops)
    return f"""SELECT {literal(model.table.fqn)} AS "table", CASE {reasons} END AS "check",
            {literal(run_id)} AS run_id, to_json({ROW})::VARCHAR AS "row",
            now()::TIMESTAMPTZ AS quarantined_at, CAST(now() AS DATE) AS quarantine_date
        FROM {relation} AS {ROW} WHERE {' OR '.join(violated(e) for e in drops)}"""
