from __future__ import annotations

from fastapi import APIRouter, Request, Response

from lakehouse.api.auth import lh_of, optional_principal
from lakehouse.api.errors import error_response
from lakehouse.api.offload import offload
from lakehouse.api.render import json_response

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness and readiness (lake and metadata store reachable; paths for admins)")
async def health(request: Request) -> Response:
    lh = lh_of(request)
    report = await offload(request, lh.health, await optional_principal(request))
    if report["status"] != "ok":
        return error_response(503, "not_ready", "lakehouse is not ready", report["checks"])
    return json_response(report)
