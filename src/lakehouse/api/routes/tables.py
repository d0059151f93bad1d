from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query, Request, Response

from lakehouse.api.auth import Caller, lh_of
from lakehouse.api.observe import note
from lakehouse.api.offload import offload
from lakehouse.api.render import json_response, render
from lakehouse.results import QueryResult

router = APIRouter(tags=["tables"])
TableName = Annotated[str, Path(max_length=200, description="`gold.user_segments`, `user_segments_gold` or `gold_user_segments`")]


@router.get("/tables", summary="Every table that exists, with rows, size, version, last update")
async def list_tables(request: Request, who: Caller,
                      layer: Literal["bronze", "silver", "gold"] | None = None) -> Response:
    lh = lh_of(request)
    tables = await offload(request, lh.catalog.list_tables, who, layer)
    note(request, tables=[t["table"] for t in tables])
    return json_response({"tables": tables})


@router.get("/tables/{name}", summary="Schema, partitioning, Delta facts, catalog entry, quality")
async def describe(request: Request, name: TableName, who: Caller) -> Response:
    lh = lh_of(request)
    body = await offload(request, lh.catalog.describe, name, who)
    note(request, tables=[body["table"]])
    return json_response(body)


@router.get("/tables/{name}/preview", summary="First rows (filter, columns, time travel)")
async def preview(
    request: Request, name: TableName, who: Caller,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
    columns: Annotated[str | None, Query(max_length=4000, description="comma-separated")] = None,
    filter: Annotated[str | None, Query(max_length=4000, description="SQL boolean expression")] = None,
    version: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    lh = lh_of(request)
    cols = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    note(request, query=filter)

    def work() -> tuple[QueryResult, Response]:
        result = lh.query.preview(name, who, limit=limit, columns=cols, where=filter, version=version)
        return result, render(result, accept)

    result, response = await offload(request, work)
    note(request, result=result)
    return response


@router.get("/tables/{name}/history", summary="Delta commit history")
async def history(request: Request, name: TableName, who: Caller,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 20) -> Response:
    lh = lh_of(request)
    commits = await offload(request, lh.catalog.history, name, who, limit)
    note(request, tables=[lh.access.table(name, who).fqn], rows=len(commits))
    return json_response({"history": commits})
