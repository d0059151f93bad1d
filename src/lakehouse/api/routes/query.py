from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from lakehouse.api.auth import Caller, lh_of
from lakehouse.api.observe import note
from lakehouse.api.offload import offload
from lakehouse.api.render import render
from lakehouse.api.schemas import QueryRequest
from lakehouse.results import QueryResult

router = APIRouter(tags=["query"])


@router.post(
    "/query",
    summary="Read-only SQL over the lake (JSON, or CSV / Arrow / Parquet by Accept)",
    responses={200: {"content": {"text/csv": {}, "application/vnd.apache.arrow.stream": {},
                                 "application/vnd.apache.parquet": {}}}},
)
async def query(request: Request, body: QueryRequest, who: Caller,
                accept: Annotated[str | None, Header()] = None) -> Response:
    lh = lh_of(request)
    note(request, query=body.sql)

    def work() -> tuple[QueryResult, Response]:
        result = lh.query.sql(body.sql, who, body.limit)
        return result, render(result, accept)

    result, response = await offload(request, work)
    note(request, result=result)
    return response
