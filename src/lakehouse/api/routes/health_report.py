"""GET /health/report: the health report, as the caller's role may see it (docs/monitoring.md)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from lakehouse.api.auth import Caller, lh_of
from lakehouse.api.offload import offload
from lakehouse.api.render import json_response

router = APIRouter(tags=["health"])


@router.get("/health/report", summary="Freshness, lag, layer delay, quality, size and runs the caller may read")
async def health_report(request: Request, who: Caller) -> Response:
    lh = lh_of(request)
    report = await offload(request, lh.health_report, layers=sorted(who.role.layers))
    return json_response(report.to_dict())
