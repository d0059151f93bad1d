"""Lakehouse: event streams into Delta Lake bronze/silver/gold tables, served over REST.

`Lakehouse` is the facade the CLI, the API and notebooks call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

# Imported on first use (see exports.py): `import lakehouse.cli.main` holds signals before
# the heavy imports happen (cli/startup.py).
from lakehouse.exports import attribute as __getattr__  # noqa: F401

if TYPE_CHECKING:
    from lakehouse.config import Settings
    from lakehouse.exceptions import LakehouseError
    from lakehouse.ops.health import LakehouseHealthMonitor
    from lakehouse.service import Lakehouse

__all__ = ["Lakehouse", "LakehouseError", "LakehouseHealthMonitor", "Settings"]
__version__ = "0.1.0"
