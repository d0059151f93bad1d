"""Who is calling: `Authorization: Bearer <key>` or `X-API-Key: <key>`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from lakehouse.catalog.access import ANONYMOUS_ADMIN, NotAuthenticatedError, Principal
from lakehouse.catalog.service import Governance

_bearer = HTTPBearer(auto_error=False, description="API key as a bearer token")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")

PRINCIPAL_KEY = "lakehouse.principal"


def governance(request: Request) -> Governance:
    gov: Governance = request.app.state.governance
    return gov


def principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_header)],
) -> Principal:
    gov = governance(request)
    if not gov.settings.api.auth:
        who = ANONYMOUS_ADMIN
    else:
        token = api_key or (bearer.credentials if bearer else None)
        if not token:
            raise NotAuthenticatedError("missing API key", hint="send Authorization: Bearer <key> or X-API-Key")
        found = gov.keys.verify(token)
        if found is None:
            raise NotAuthenticatedError("invalid or revoked API key", hint="create one with `lakehouse keys create`")
        who = found
    request.scope[PRINCIPAL_KEY] = who
    return who


Caller = Annotated[Principal, Depends(principal)]
Gov = Annotated[Governance, Depends(governance)]
