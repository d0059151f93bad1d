"""Operations: health monitoring and alerts (retention, maintenance and scheduling live here too)."""

from lakehouse.ops.health import LakehouseHealthMonitor
from lakehouse.ops.health_report import HealthReport

__all__ = ["HealthReport", "LakehouseHealthMonitor"]
