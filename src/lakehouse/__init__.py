"""Lakehouse: event streams into Delta Lake bronze/silver/gold tables, served over REST.

`Lakehouse` is the facade the CLI, the API and notebooks call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lakehouse.config import Settings
    from lakehouse.exceptions import LakehouseError
    from lakehouse.service import Lakehouse

__all__ = ["Lakehouse", "LakehouseError", "Settings"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Imported on first use, so `import lakehouse.cli.main` can hold signals before the
    # heavy imports (DuckDB, Arrow, delta-rs): see cli/startup.py.
    if name == "Lakehouse":
        from lakehouse.service import Lakehouse

        return Lakehouse
    if name == "LakehouseError":
        from lakehouse.exceptions import LakehouseError

        return LakehouseError
    if name == "Settings":
        from lakehouse.config import Settings

        return Settings
    raise AttributeError(f"module 'lakehouse' has no attribute {name!r}")
