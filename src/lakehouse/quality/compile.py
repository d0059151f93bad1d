"""Expectations as SQL: for each, a query that selects the rows (or keys) that violate it.

Row checks also compile to a boolean `violated` expression over one row, which is how a row is
flagged (`quality_issues`) or dropped; the row's relation is always aliased `__row` (ROW). The SQL is in the models' dialect (DuckDB's); an engine
with another dialect translates it like any model SQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from lakehouse.contract.expectations import (
    AcceptedValues,
    Completeness,
    Expectation,
    Finite,
    Freshness,
    InRange,
    Matches,
    NotNull,
    Predicate,
    References,
    RowCount,
    Schema,
    Unique,
)
from lakehouse.exceptions import ConfigError
from lakehouse.pipeline.sql import literal, quote

ROW = "__row"


def _bound(value: float | str) -> str:
    return literal(value) if isinstance(value, str) else str(value)


def violated(e: Expectation) -> str:
    """A boolean SQL expression, true when one row violates the row check `e`."""
    if isinstance(e, NotNull):
        return "(" + " OR ".join(f"{quote(c)} IS NULL" for c in e.columns) + ")"
    if isinstance(e, AcceptedValues):
        values = ", ".join(literal(v) for v in e.values)
        col = quote(e.column)
        if e.allow_null:
            return f"({col} IS NOT NULL AND {col} NOT IN ({values}))"
        return f"({col} IS NULL OR {col} NOT IN ({values}))"
    if isinstance(e, InRange):
        col = quote(e.column)
        parts = []
        if e.min is not None:
            parts.append(f"{col} {'<' if e.min_inclusive else '<='} {_bound(e.min)}")
        if e.max is not None:
            parts.append(f"{col} {'>' if e.max_inclusive else '>='} {_bound(e.max)}")
        return "coalesce(" + " OR ".join(parts) + ", false)"
    if isinstance(e, Matches):
        return f"coalesce(NOT regexp_full_match({quote(e.column)}, {literal(e.pattern)}), false)"
    if isinstance(e, Predicate):
        return f"NOT coalesce(({e.sql}), true)"
    if isinstance(e, Finite):
        return f"coalesce(NOT isfinite({quote(e.column)}), false)"
    if isinstance(e, References):
        col = quote(e.column)
        return (
            f"({col} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {e.to_table} AS __ref "
            f"WHERE __ref.{quote(e.to_column)} = {ROW}.{col}))"
        )
    raise ConfigError(f"{e.name} is not a row check")


@dataclass(frozen=True)
class Measure:
    """An aggregate check as SQL: `value_sql` gives one number; `rows_sql` the violating rows."""

    value_sql: str
    rows_sql: str | None


def aggregate(e: Expectation, batch: str, after: str) -> Measure:
    """`batch`: the rows the run writes; `after`: the table as it will be after the commit."""
    if isinstance(e, Unique):
        keys = ", ".join(quote(c) for c in e.columns)
        dupes = f"SELECT {keys}, count(*) AS __n FROM {batch} GROUP BY {keys} HAVING count(*) > 1"
        return Measure(f"SELECT coalesce(sum(__n), 0) FROM ({dupes})", dupes)
    if isinstance(e, Completeness):
        complete = " AND ".join(f"{quote(c)} IS NOT NULL" for c in e.columns)
        return Measure(
            f"SELECT coalesce(100.0 * count(*) FILTER (WHERE {complete}) / nullif(count(*), 0), 100) FROM {batch}",
            f"SELECT * FROM {batch} WHERE NOT ({complete})",
        )
    if isinstance(e, RowCount):
        return Measure(f"SELECT count(*) FROM ({after}) AS __after", None)
    if isinstance(e, Freshness):
        return Measure("SELECT NULL", None)  # measured from the batch and the table's file statistics
    if isinstance(e, Schema):
        return Measure("SELECT 0", None)
    raise ConfigError(f"{e.name} is not an aggregate check")


def flags(checks: list[Expectation]) -> str:
    """The `quality_issues` list: names of the row checks a row violates, in declaration order."""
    if not checks:
        return "CAST([] AS VARCHAR[])"
    items = ", ".join(f"CASE WHEN {violated(e)} THEN {literal(e.name)} END" for e in checks)
    return f"list_filter([{items}], lambda x: x IS NOT NULL)"
