from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from lakehouse.api.auth import Caller, Gov
from lakehouse.api.observe import note
from lakehouse.api.render import render
from lakehouse.api.schemas import QueryRequest

router = APIRouter(tags=["query"])


@router.post(
    "/query",
    summary="Read-only SQL over the lake (JSON, or CSV / Arrow / Parquet by Accept)",
    responses={200: {"content": {"text/csv": {}, "application/vnd.apache.arrow.stream": {},
                                 "application/vnd.apache.parquet": {}}}},
)
def query(request: Request, body: QueryRequest, gov: Gov, who: Caller,
          accept: Annotated[str | None, Header()] = None) -> Response:
    note(request, query=body.sql)
    result = gov.query(body.sql, who, body.limit)
    note(request, result=result)
    return render(result, accept)
