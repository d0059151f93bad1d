"""The FastAPI application: `create_app(settings)`; served by `lakehouse serve`."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from lakehouse.api import errors
from lakehouse.api.auth import document_security, optional_principal
from lakehouse.api.observe import Metrics, Observe
from lakehouse.api.offload import make_executor, offload
from lakehouse.api.routes import (
    catalog,
    health,
    health_report,
    quality,
    query,
    runs,
    schedule,
    tables,
)
from lakehouse.config import Settings
from lakehouse.service import Lakehouse

log = logging.getLogger(__name__)

DESCRIPTION = """Tables, previews, read-only SQL, catalog, lineage, runs and audit of the lakehouse.

Authenticate with `Authorization: Bearer <key>` or `X-API-Key: <key>` (`lakehouse keys create`).
Roles: **reader** (gold, PII masked), **analyst** (silver + gold, SQL), **admin** (everything).
Every error has the shape `{"error": {"code", "message", "details"}}`.
"""


def create_app(settings: Settings | None = None, lakehouse: Lakehouse | None = None, *,
               freeze_gc: bool = False, warm: bool = False) -> FastAPI:
    """The API over `settings` (default: from the environment).

    `freeze_gc` (what `lakehouse serve` uses): once started, move every object alive then
    (modules, app, settings: ~200k objects) out of the garbage collector's reach with
    `gc.freeze()`. Otherwise each full collection walks them all, which under load happened
    several times a second at 100-250 ms each and set the p99 latency.

    `warm` (also `lakehouse serve`): start the query workers at start-up, in the background,
    rather than on the first query.
    """
    owned = lakehouse is None
    lh = lakehouse or Lakehouse(settings or Settings())
    settings = lh.settings
    metrics = Metrics(lh)

    threads = settings.api.pool_size

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.executor is None:
            app.state.executor = make_executor(threads)
        lh.access.audit.start()
        app.state.executor.submit(lh.query.prepare)  # before a request needs it
        if warm:
            lh.query.start_workers()
        if freeze_gc:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            app.state.executor.shutdown(wait=True)
            app.state.executor = None
            if owned:
                lh.close()
            else:
                lh.access.audit.flush()

    app = FastAPI(title="Lakehouse API", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.lakehouse = lh
    app.state.metrics = metrics
    # blocking work of the async routes (also usable without lifespan events, e.g. ASGI test clients)
    app.state.executor = make_executor(threads)
    errors.install(app)
    for module in (health, health_report, tables, query, catalog, runs, quality, schedule):
        app.include_router(module.router)

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics (every table's freshness with an admin key)")
    async def prometheus(request: Request) -> Response:
        who = await optional_principal(request)
        registry = metrics.registry if who is not None and who.role.is_admin else metrics.public
        return Response(await offload(request, generate_latest, registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(Observe, lh=lh, metrics=metrics)
    document_security(app)
    return app


def server_app() -> FastAPI:
    """The app `lakehouse serve` runs (an import-string factory, so each worker process builds its own)."""
    return create_app(freeze_gc=True, warm=True)
