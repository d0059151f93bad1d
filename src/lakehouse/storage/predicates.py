"""SQL predicates for the table format, built with sqlglot so values are always quoted right."""

from __future__ import annotations

from collections.abc import Iterable

from sqlglot import exp


def in_list(column: str, values: Iterable[object]) -> str:
    """`"column" IN ('v1', 'v2')`; an empty list matches nothing."""
    literals = [exp.Literal.string(str(v)) for v in values]
    if not literals:
        return "FALSE"
    return exp.column(column, quoted=True).isin(*literals).sql()


def before(column: str, value: object) -> str:
    """`"column" < 'value'`."""
    return exp.LT(this=exp.column(column, quoted=True), expression=exp.Literal.string(str(value))).sql()
