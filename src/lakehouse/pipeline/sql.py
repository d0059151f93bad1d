"""Quoting for SQL text the pipeline builds around model SQL (DuckDB's dialect)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlglot import exp


def quote(name: str) -> str:
    """A quoted identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: object) -> str:
    """A SQL literal (strings and dates quoted; sqlglot renders it, so quotes inside are escaped)."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return exp.Literal.number(value).sql(dialect="duckdb")
    if isinstance(value, date):
        return f"DATE {exp.Literal.string(value.isoformat()).sql(dialect='duckdb')}"
    return exp.Literal.string(str(value)).sql(dialect="duckdb")


def in_list(column: str, values: Iterable[object]) -> str:
    items = [literal(v) for v in values]
    return f"{quote(column)} IN ({', '.join(items)})" if items else "FALSE"
