"""Declared columns as Arrow types (what the writers produce and a test checks)."""

from __future__ import annotations

import pyarrow as pa

from lakehouse.contract.spec import ColumnType, TableSpec

ARROW_TYPES: dict[ColumnType, pa.DataType] = {
    "string": pa.string(),
    "json": pa.string(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "double": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
    "list<string>": pa.list_(pa.string()),
}


def arrow_schema(spec: TableSpec) -> pa.Schema:
    return pa.schema([(c.name, ARROW_TYPES[c.type]) for c in spec.columns])


def same_type(declared: ColumnType, actual: pa.DataType) -> bool:
    """Whether a column read back matches its declaration (string sizes and list field names aside)."""
    want = ARROW_TYPES[declared]
    if pa.types.is_string(want):
        return bool(pa.types.is_string(actual) or pa.types.is_large_string(actual))
    if pa.types.is_list(want):
        return bool(pa.types.is_list(actual) or pa.types.is_large_list(actual)) and same_type(
            "string", actual.value_type
        )
    return bool(actual.equals(want))
