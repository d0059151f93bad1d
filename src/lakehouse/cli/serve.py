"""`lakehouse serve`: the REST API under uvicorn.

With auth off (`LAKEHOUSE_API__AUTH=false`) the server only binds to 127.0.0.1: an open API
on a network interface is refused rather than warned about.

uvloop and httptools (the `api` extra) are used when installed. They matter beyond speed: with
`--workers N` uvicorn binds the socket itself (protocol 0), and asyncio's own loop only sets
TCP_NODELAY on sockets whose protocol is IPPROTO_TCP, so with asyncio every response (headers
and body are two writes) waited ~40 ms for Nagle and the client's delayed ACK. uvloop sets
TCP_NODELAY on every TCP connection.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Annotated, Literal

import typer

from lakehouse.config import Settings

log = logging.getLogger(__name__)

LOCAL_ONLY = "127.0.0.1"


def check_bind(settings: Settings, host: str) -> None:
    if not settings.api.auth and host != LOCAL_ONLY:
        raise typer.BadParameter(
            f"auth is off (LAKEHOUSE_API__AUTH=false): refusing to listen on {host}; "
            f"use --host {LOCAL_ONLY} or turn auth on and create keys with `lakehouse keys create`",
            param_hint="--host",
        )


def server_options() -> tuple[Literal["uvloop", "asyncio"], Literal["httptools", "h11"]]:
    """uvicorn's event loop and HTTP parser: uvloop and httptools when installed."""
    uvloop = importlib.util.find_spec("uvloop") is not None
    httptools = importlib.util.find_spec("httptools") is not None
    if not uvloop:
        log.warning("uvloop is not installed: with --workers > 1 responses may wait ~40 ms (no TCP_NODELAY)")
    loop: Literal["uvloop", "asyncio"] = "uvloop" if uvloop else "asyncio"
    http: Literal["httptools", "h11"] = "httptools" if httptools else "h11"
    return loop, http


def serve(
    host: Annotated[str | None, typer.Option(help="bind address (default: settings.api.host)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default: settings.api.port, 8888)")] = None,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Serve the REST API (tables, preview, SQL, catalog, lineage, health, metrics; docs at /docs)."""
    import uvicorn

    settings = Settings()
    host = host or settings.api.host
    check_bind(settings, host)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    loop, http = server_options()
    if workers > 1:  # each worker builds its app from the same environment
        uvicorn.run("lakehouse.api.app:server_app", factory=True, host=host, port=port or settings.api.port,
                    workers=workers, log_level=log_level, access_log=False, loop=loop, http=http)
        return
    from lakehouse.api.app import create_app

    uvicorn.run(create_app(settings, freeze_gc=True, warm=True), host=host, port=port or settings.api.port,
                log_level=log_level, access_log=False, loop=loop, http=http)
