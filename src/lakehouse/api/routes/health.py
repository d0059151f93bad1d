from __future__ import annotations

from fastapi import APIRouter, Response

from lakehouse.api.auth import Gov
from lakehouse.api.errors import error_response
from lakehouse.api.render import json_response

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness and readiness (lake path and metadata store reachable)")
def health(gov: Gov) -> Response:
    report = gov.health()
    if report["status"] != "ok":
        return error_response(503, "not_ready", "lakehouse is not ready", report["checks"])
    return json_response(report)
