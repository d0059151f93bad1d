from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from lakehouse.api.auth import Caller, lh_of
from lakehouse.api.observe import note
from lakehouse.api.offload import offload
from lakehouse.api.render import json_response
from lakehouse.api.schemas import CatalogPatch

router = APIRouter(tags=["catalog"])
TableName = Annotated[str, Path(max_length=200)]
Filter = Annotated[str | None, Query(max_length=200)]


@router.get("/catalog", summary="Search catalog entries by text, layer, tag, owner")
async def search(request: Request, who: Caller, q: Filter = None,
                 layer: Literal["bronze", "silver", "gold"] | None = None,
                 tag: Filter = None, owner: Filter = None) -> Response:
    lh = lh_of(request)
    entries = await offload(request, lh.catalog.search, who, q=q, layer=layer, tag=tag, owner=owner)
    note(request, tables=[e["table"] for e in entries])
    return json_response({"entries": entries})


@router.patch("/catalog/{table}", summary="Edit a catalog entry (admin)")
async def update(request: Request, table: TableName, body: CatalogPatch, who: Caller) -> Response:
    lh = lh_of(request)
    entry = await offload(request, lh.catalog.update_entry, table, body.model_dump(exclude_unset=True), who)
    note(request, tables=[entry["table"]])
    return json_response(entry)


@router.get("/catalog/lineage/{table}", summary="Upstream/downstream tables, column lineage, runs")
async def lineage(request: Request, table: TableName, who: Caller) -> Response:
    lh = lh_of(request)
    body = await offload(request, lh.catalog.lineage, table, who)
    note(request, tables=[body["table"]])
    return json_response(body)
