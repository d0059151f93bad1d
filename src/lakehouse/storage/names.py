"""Table names: kept for imports that predate `lakehouse.contract` (which now owns them)."""

from lakehouse.contract import LAYERS, REGISTRY, TableId, resolve, tables_in

KNOWN: tuple[TableId, ...] = tuple(REGISTRY.ids())

__all__ = ["KNOWN", "LAYERS", "TableId", "resolve", "tables_in"]
