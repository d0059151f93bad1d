"""GET /schedule: each job's cron, next run, last run and status, the scheduler's lease, recent runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from lakehouse.api.auth import Caller, lh_of
from lakehouse.api.offload import offload
from lakehouse.api.render import json_response

router = APIRouter(tags=["runs & audit"])


@router.get("/schedule", summary="The schedule: jobs, next and last runs, the scheduler")
async def schedule(request: Request, _who: Caller, runs: Annotated[int, Query(ge=0, le=500)] = 20) -> Response:
    lh = lh_of(request)
    return json_response(await offload(request, lh.schedule, runs))
