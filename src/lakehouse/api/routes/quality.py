from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from lakehouse.api.auth import Caller, lh_of
from lakehouse.api.errors import error_response
from lakehouse.api.observe import note
from lakehouse.api.offload import offload
from lakehouse.api.render import json_response

router = APIRouter(tags=["quality"])
TableName = Annotated[str, Path(max_length=200)]


@router.get("/quality", summary="Every readable table's latest quality verdict: status, score, outcomes")
async def overview(request: Request, who: Caller, layer: Literal["bronze", "silver", "gold"] | None = None) -> Response:
    lh = lh_of(request)
    tables = await offload(request, lh.catalog.quality_overview, who, layer)
    note(request, tables=[t["table"] for t in tables])
    return json_response({"tables": tables})


@router.get("/tables/{name}/quality", summary="A table's checks from its latest run (or its history)")
async def table_quality(
    request: Request, name: TableName, who: Caller,
    history: Annotated[bool, Query(description="the verdicts of the last `runs` runs, newest first")] = False,
    runs: Annotated[int, Query(ge=1, le=500)] = 20,
    check: Annotated[str | None, Query(max_length=128)] = None,
) -> Response:
    lh = lh_of(request)
    if history:
        body = await offload(request, lh.catalog.quality_history, name, who, runs=runs, check=check)
        note(request, tables=[lh.access.table(name, who).fqn])
        return json_response({"table": lh.access.table(name, who).fqn, "history": body})
    latest = await offload(request, lh.catalog.quality, name, who)
    table = lh.access.table(name, who).fqn
    note(request, tables=[table])
    if latest is None:
        return error_response(404, "no_quality_results", f"no quality results for {table} yet",
                              {"hint": "run `lakehouse transform`"})
    return json_response({"table": table, **latest})
