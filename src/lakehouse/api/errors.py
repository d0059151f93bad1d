"""One JSON shape for every error: `{"error": {"code", "message", "details"}}`.

Lakehouse exceptions map to HTTP statuses here and only here; the core never knows HTTP.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from lakehouse.access import Principal, Redactor
from lakehouse.api.auth import PRINCIPAL_KEY
from lakehouse.exceptions import (
    InputError,
    LakehouseError,
    NotAuthenticatedError,
    PermissionDeniedError,
    QueryBusyError,
    QueryError,
    QueryMemoryError,
    QueryTimeoutError,
    TableNotBuiltError,
    TableNotFoundError,
)

log = logging.getLogger(__name__)

_CODES: list[tuple[type[LakehouseError], int, str]] = [
    (NotAuthenticatedError, 401, "unauthenticated"),
    (PermissionDeniedError, 403, "forbidden"),
    (TableNotFoundError, 404, "table_not_found"),
    (TableNotBuiltError, 404, "table_not_built"),
    (QueryTimeoutError, 408, "query_timeout"),
    (QueryMemoryError, 422, "query_memory"),
    (QueryBusyError, 429, "busy"),
    (QueryError, 400, "bad_query"),
    (InputError, 400, "bad_input"),
]


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": jsonable_encoder(details or {})}}
    return JSONResponse(body, status_code=status, headers=headers)


def _details(exc: LakehouseError) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if exc.hint:
        d["hint"] = exc.hint
    if isinstance(exc, TableNotFoundError):
        d["suggestions"] = exc.suggestions
    if isinstance(exc, TableNotFoundError | TableNotBuiltError):
        d["table"] = exc.name
    if isinstance(exc, QueryError) and exc.position is not None:
        d["position"] = exc.position
    return d


async def lakehouse_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LakehouseError)
    status, code = next(
        ((s, c) for kind, s, c in _CODES if isinstance(exc, kind)),
        (503, "unavailable") if exc.transient else (400, "error"),
    )
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else ({"Retry-After": "1"} if status == 429 else None)
    message = exc.message + (f" ({exc.hint})" if exc.hint and status == 404 else "")
    details = _details(exc)
    who: Principal | None = request.scope.get(PRINCIPAL_KEY)
    if who is None or not who.role.is_admin:  # the lake's paths only ever reach admins
        paths: Redactor = request.app.state.lakehouse.access.path_redactor()
        message, details = paths.text(message), paths.json(details)
    return error_response(status, code, message, details, headers)


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"])
    return error_response(422, "invalid_request", f"{where}: {first['msg']}", {"errors": errors})


async def http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 406: "not_acceptable"}.get(exc.status_code, "http_error")
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, code, str(exc.detail), None, headers)


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal error; see the server log")


def install(app: FastAPI) -> None:
    app.add_exception_handler(LakehouseError, lakehouse_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)
