"""Who is calling: `Authorization: Bearer <key>` or `X-API-Key: <key>`.

The dependency reads the two headers itself rather than through FastAPI's `HTTPBearer` and
`APIKeyHeader` sub-dependencies: each dependency FastAPI solves costs tens of microseconds per
request, which at a thousand requests a second is a tenth of a core. OpenAPI still documents
both schemes (`document_security`). The dependency is `async`: a key verified in the last
`api.key_cache_s` seconds is answered from the key ring's cache on the event loop; only a cache
miss goes to the metadata store, on the API's thread pool.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from lakehouse.access import Principal
from lakehouse.api.offload import offload
from lakehouse.exceptions import NotAuthenticatedError
from lakehouse.service import Lakehouse

PRINCIPAL_KEY = "lakehouse.principal"

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "HTTPBearer": {"type": "http", "scheme": "bearer", "description": "API key as a bearer token"},
    "APIKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "API key"},
}


def lh_of(request: Request) -> Lakehouse:
    """The app's `Lakehouse` facade (a plain call, not a dependency: nothing to solve per request)."""
    lh: Lakehouse = request.app.state.lakehouse
    return lh


def _token(request: Request) -> str | None:
    headers = request.headers
    key = headers.get("x-api-key")
    if key:
        return key
    scheme, _, credentials = (headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


async def principal(request: Request) -> Principal:
    access = lh_of(request).access
    token = _token(request)
    who = access.cached_principal(token)
    if who is None:
        who = await offload(request, access.authenticate, token)
    request.scope[PRINCIPAL_KEY] = who
    return who


Caller = Annotated[Principal, Depends(principal)]


async def optional_principal(request: Request) -> Principal | None:
    """The caller when a valid key is sent (or auth is off), else None; never raises.
    For the endpoints served without a key (`/health`, `/metrics`) that show more to an admin."""
    access = lh_of(request).access
    token = _token(request)
    if access.auth_enabled and not token:
        return None
    try:
        who = access.cached_principal(token)
        return who if who is not None else await offload(request, access.authenticate, token)
    except NotAuthenticatedError:
        return None


def _needs_key(dependant: Dependant) -> bool:
    return any(d.call is principal or _needs_key(d) for d in dependant.dependencies)


def _api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        router = getattr(route, "original_router", None)  # FastAPI >= 0.16x wraps included routers
        if router is not None:
            yield from _api_routes(router.routes)


def document_security(app: FastAPI) -> None:
    """OpenAPI: both key schemes, required by every operation that depends on `principal`."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
            for route in _api_routes(app.routes):
                if _needs_key(route.dependant):
                    for method in route.methods or ():
                        op = schema["paths"].get(route.path_format, {}).get(method.lower())
                        if op is not None:
                            op["security"] = [{name: []} for name in SECURITY_SCHEMES]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
