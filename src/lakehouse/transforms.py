"""The facade's transform and backfill jobs: the engine they run on, the quality gate every
batch passes before its commit, and the lake's transform lock (one job at a time).

`Lakehouse.transform` and `Lakehouse.backfill` call these; the engine is the one named, else
`settings.engine` (DuckDB unless set).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from lakehouse.config import Settings
from lakehouse.contract import Layer
from lakehouse.exceptions import InputError, TransformError
from lakehouse.results import TransformResult
from lakehouse.storage.base import TableStore
from lakehouse.storage.locks import table_lock

if TYPE_CHECKING:
    from lakehouse.pipeline.backfill import BackfillResult
    from lakehouse.pipeline.engines import Engine
    from lakehouse.pipeline.kinds import GateFactory

Progress = Callable[[str, int, int], None]


def pipeline_lock(settings: Settings) -> Any:
    """The lake's transform lock: transforms and backfills run one at a time (a file lock)."""
    return table_lock(settings, "transform")


def _engine(settings: Settings, store: TableStore, name: str | None) -> Callable[[], Engine]:
    from lakehouse.pipeline.engines import ENGINE_NAMES, make_engine

    chosen = name or settings.engine
    if chosen not in ENGINE_NAMES:
        raise InputError(f"unknown engine '{chosen}'", hint=f"choose from {', '.join(ENGINE_NAMES)}")
    return lambda: make_engine(settings, store, chosen)


def _gate(settings: Settings, store: TableStore) -> GateFactory:
    from lakehouse.quality import Validator

    return lambda engine, run_id: Validator(store, engine, run_id, enabled=settings.quality_checks)


def transform(
    settings: Settings, store: TableStore, finish: Callable[[TransformResult], TransformResult], *,
    layer: str | None, full_refresh: bool, progress: Progress | None, engine: str | None,
) -> list[TransformResult]:
    """Silver then gold (or one layer); each layer's result goes through `finish` (recorded)."""
    from lakehouse.pipeline.runner import PipelineRunner

    if layer is not None and layer not in ("silver", "gold"):
        raise InputError(f"unknown layer '{layer}'", hint="use --layer silver or --layer gold")
    runner = PipelineRunner(settings, store, engine=_engine(settings, store, engine), gate=_gate(settings, store))
    layers: list[Layer] = ["silver" if layer == "silver" else "gold"] if layer else ["silver", "gold"]
    results = []
    with pipeline_lock(settings):
        for lay in layers:
            result = finish(runner.run_layer(lay, full_refresh=full_refresh, progress=progress))
            results.append(result)
            if result.status == "failed":
                raise TransformError(result) from runner.last_error  # the cause says if it is transient
    return results


def backfill(
    settings: Settings, store: TableStore, finish: Callable[[BackfillResult], BackfillResult],
    date_from: date, date_to: date, tables: list[str] | None, *, engine: str | None = None,
) -> BackfillResult:
    from lakehouse.pipeline.backfill import Backfill

    job = Backfill(settings, store, engine=_engine(settings, store, engine), gate=_gate(settings, store))
    with pipeline_lock(settings):
        result = finish(job.run(date_from, date_to, tables))
    if result.status == "failed":
        raise TransformError(result) from job.last_error
    return result
