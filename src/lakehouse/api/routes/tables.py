from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query, Request, Response

from lakehouse.api.auth import Caller, Gov
from lakehouse.api.observe import note
from lakehouse.api.render import json_response, render

router = APIRouter(tags=["tables"])
TableName = Annotated[str, Path(max_length=200, description="`gold.user_segments`, `user_segments_gold` or `gold_user_segments`")]


@router.get("/tables", summary="Every table that exists, with rows, size, version, last update")
def list_tables(request: Request, gov: Gov, who: Caller,
                layer: Literal["bronze", "silver", "gold"] | None = None) -> Response:
    tables = gov.list_tables(who, layer)
    note(request, tables=[t["table"] for t in tables])
    return json_response({"tables": tables})


@router.get("/tables/{name}", summary="Schema, partitioning, Delta facts, catalog entry, quality")
def describe(request: Request, name: TableName, gov: Gov, who: Caller) -> Response:
    body = gov.describe(name, who)
    note(request, tables=[body["table"]])
    return json_response(body)


@router.get("/tables/{name}/preview", summary="First rows (filter, columns, time travel)")
def preview(
    request: Request, name: TableName, gov: Gov, who: Caller,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
    columns: Annotated[str | None, Query(max_length=4000, description="comma-separated")] = None,
    filter: Annotated[str | None, Query(max_length=4000, description="SQL boolean expression")] = None,
    version: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    cols = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    note(request, query=filter)
    result = gov.preview(name, who, limit=limit, columns=cols, where=filter, version=version)
    note(request, result=result)
    return render(result, accept)


@router.get("/tables/{name}/history", summary="Delta commit history")
def history(request: Request, name: TableName, gov: Gov, who: Caller,
            limit: Annotated[int, Query(ge=1, le=1000)] = 20) -> Response:
    commits = gov.history(name, who, limit)
    note(request, tables=[gov.table(name, who).fqn], rows=len(commits))
    return json_response({"history": commits})
