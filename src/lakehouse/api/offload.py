"""Blocking work (DuckDB, Delta log, metadata store) off the event loop, on a small pool of threads.

Routes are `async def` and hand their blocking part to `offload(request, fn, ...)`: one thread
hop per request instead of FastAPI's one per sync dependency plus one for the endpoint (through
anyio's 40-thread pool). The pool has as many threads as the engine has DuckDB connections, so
queries never wait on each other for a thread they could not use anyway, and a couple of slow
queries cannot starve the loop.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from fastapi import Request

P = ParamSpec("P")
R = TypeVar("R")


def make_executor(threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="lakehouse-api")


async def offload(request: Request, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    executor: ThreadPoolExecutor = request.app.state.executor
    return await asyncio.get_running_loop().run_in_executor(executor, functools.partial(fn, *args, **kwargs))
