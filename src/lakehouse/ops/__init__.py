"""Operations around the lake: readiness, health monitoring and alerts, retention and archive,
table maintenance (optimize, vacuum), the scheduler."""

from lakehouse.ops.health import LakehouseHealthMonitor
from lakehouse.ops.health_report import HealthReport

__all__ = ["HealthReport", "LakehouseHealthMonitor"]
