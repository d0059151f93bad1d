from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from lakehouse.api.auth import Caller, Gov
from lakehouse.api.errors import error_response
from lakehouse.api.render import json_response
from lakehouse.catalog.store import AuditFilter

router = APIRouter(tags=["runs & audit"])
Short = Annotated[str | None, Query(max_length=200)]


@router.get("/runs", summary="Recent pipeline runs")
def runs(gov: Gov, _who: Caller, job: Short = None, status: Short = None,
         limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> Response:
    return json_response({"runs": gov.runs(job=job, status=status, limit=limit)})


@router.get("/runs/{run_id}", summary="One run report")
def run(run_id: Annotated[str, Path(max_length=64)], gov: Gov, _who: Caller) -> Response:
    found = gov.run(run_id)
    if found is None:
        return error_response(404, "run_not_found", f"no run '{run_id}'", {"hint": "GET /runs lists runs"})
    return json_response(found)


@router.get("/audit", summary="The audit trail (admin)")
def audit(gov: Gov, who: Caller, user: Short = None, table: Short = None, endpoint: Short = None,
          status: Annotated[int | None, Query(ge=100, le=599)] = None,
          since: datetime | None = None, until: datetime | None = None,
          limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Response:
    f = AuditFilter(who=user, table=table, endpoint=endpoint, status=status, since=since, until=until, limit=limit)
    return json_response({"entries": gov.audit_entries(who, f)})
