"""Lakehouse: event streams into Delta Lake bronze/silver/gold tables, served over REST.

`Lakehouse` is the facade the CLI, the API and notebooks call.
"""

from lakehouse.config import Settings
from lakehouse.exceptions import LakehouseError
from lakehouse.ops.health import LakehouseHealthMonitor
from lakehouse.service import Lakehouse

__all__ = ["Lakehouse", "LakehouseError", "LakehouseHealthMonitor", "Settings"]
__version__ = "0.1.0"
