"""The data contract: every table declared once (`REGISTRY`), and how names resolve."""

from lakehouse.contract.bronze import SOURCES
from lakehouse.contract.registry import REGISTRY, Registry, resolve, spec, tables_in
from lakehouse.contract.spec import (
    LAYERS,
    MODEL_KINDS,
    Column,
    ColumnType,
    Layer,
    ModelKind,
    ModelSpec,
    TableId,
    TableSpec,
)

__all__ = [
    "LAYERS",
    "MODEL_KINDS",
    "REGISTRY",
    "SOURCES",
    "Column",
    "ColumnType",
    "Layer",
    "ModelKind",
    "ModelSpec",
    "Registry",
    "TableId",
    "TableSpec",
    "resolve",
    "spec",
    "tables_in",
]
