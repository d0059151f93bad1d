"""GET /health/report: the health report, as the caller's role may see it (docs/monitoring.md)."""

from __future__ import annotations

import threading
import weakref

from fastapi import APIRouter, Request, Response

from lakehouse.api.auth import Caller, gov_of
from lakehouse.api.offload import offload
from lakehouse.api.render import json_response
from lakehouse.catalog.service import Governance
from lakehouse.ops.health import LakehouseHealthMonitor

router = APIRouter(tags=["health"])
_monitors: weakref.WeakKeyDictionary[Governance, LakehouseHealthMonitor] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def monitor_for(gov: Governance) -> LakehouseHealthMonitor:
    """The one monitor of an app's lake: the `/metrics` collector shares it (one cache, one thread)."""
    with _lock:
        monitor = _monitors.get(gov)
        if monitor is None:
            monitor = _monitors[gov] = LakehouseHealthMonitor(gov.settings, store=gov.store, metadata=gov.metadata)
        return monitor


@router.get("/health/report", summary="Freshness, lag, layer delay, quality, size and runs the caller may read")
async def health_report(request: Request, who: Caller) -> Response:
    monitor = monitor_for(gov_of(request))
    report = await offload(request, monitor.generate_health_report, layers=who.role.layers)
    return json_response(report.to_dict())
