from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from lakehouse.api.auth import Caller, lh_of
from lakehouse.api.errors import error_response
from lakehouse.api.offload import offload
from lakehouse.api.render import json_response

router = APIRouter(tags=["runs & audit"])
Short = Annotated[str | None, Query(max_length=200)]


@router.get("/runs", summary="Recent pipeline runs")
async def runs(request: Request, who: Caller, job: Short = None, status: Short = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> Response:
    lh = lh_of(request)
    return json_response({"runs": await offload(request, lh.catalog.runs, who, job=job, status=status, limit=limit)})


@router.get("/runs/{run_id}", summary="One run report")
async def run(request: Request, run_id: Annotated[str, Path(max_length=64)], who: Caller) -> Response:
    lh = lh_of(request)
    found = await offload(request, lh.catalog.run, run_id, who)
    if found is None:
        return error_response(404, "run_not_found", f"no run '{run_id}'", {"hint": "GET /runs lists runs"})
    return json_response(found)


@router.get("/audit", summary="The audit trail (admin)")
async def audit(request: Request, who: Caller, user: Short = None, table: Short = None,
                endpoint: Short = None, status: Annotated[int | None, Query(ge=100, le=599)] = None,
                since: datetime | None = None, until: datetime | None = None,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Response:
    lh = lh_of(request)
    entries = await offload(request, lh.access.audit_entries, who, user=user, table=table, endpoint=endpoint,
                            status=status, since=since, until=until, limit=limit)
    return json_response({"entries": entries})
