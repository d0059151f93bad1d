"""The package's names, imported on first use (`lakehouse.__getattr__`).

`import lakehouse.cli.main` must be able to hold signals before the heavy imports (DuckDB,
Arrow, delta-rs) happen — see `cli/startup.py` — so `lakehouse/__init__.py` imports nothing
heavy itself: `lakehouse.Lakehouse` and the others are looked up here when first asked for.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> the module that defines it
WHERE = {
    "Lakehouse": "lakehouse.service",
    "LakehouseError": "lakehouse.exceptions",
    "LakehouseHealthMonitor": "lakehouse.ops.health",
    "Settings": "lakehouse.config",
}


def attribute(name: str) -> Any:
    """The module-level `__getattr__` of `lakehouse` (PEP 562)."""
    module = WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'lakehouse' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
