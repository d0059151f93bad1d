"""The FastAPI application: `create_app(settings)`; served by `lakehouse serve`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from lakehouse.api import errors
from lakehouse.api.observe import Metrics, Observe
from lakehouse.api.routes import catalog, health, query, runs, tables
from lakehouse.catalog.service import Governance
from lakehouse.config import Settings
from lakehouse.storage.delta import DeltaStore

log = logging.getLogger(__name__)

DESCRIPTION = """Tables, previews, read-only SQL, catalog, lineage, runs and audit of the lakehouse.

Authenticate with `Authorization: Bearer <key>` or `X-API-Key: <key>` (`lakehouse keys create`).
Roles: **reader** (gold, PII masked), **analyst** (silver + gold, SQL), **admin** (everything).
Every error has the shape `{"error": {"code", "message", "details"}}`.
"""


def create_app(settings: Settings | None = None, governance: Governance | None = None) -> FastAPI:
    settings = settings or Settings()
    owned = governance is None
    gov = governance or Governance(settings, DeltaStore(settings))
    metrics = Metrics(gov)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        gov.audit.start()
        try:
            yield
        finally:
            if owned:
                gov.close()
            else:
                gov.audit.flush()

    app = FastAPI(title="Lakehouse API", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.governance = gov
    app.state.metrics = metrics
    errors.install(app)
    for module in (health, tables, query, catalog, runs):
        app.include_router(module.router)

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics")
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(Observe, gov=gov, metrics=metrics)
    return app
