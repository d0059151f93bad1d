"""Runs the models of a layer, incrementally by default.

Per model: read what it consumed of each input (its own commits' markers) and where each
input is now; skip it when nothing moved; rebuild it in full on `--full-refresh`, on a first
build, or when the input's history can no longer answer "what is new"; otherwise run its
kind's incremental step (`pipeline/kinds/`). Every commit carries the input versions it
covers, so a run killed midway resumes correctly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from lakehouse.config import Settings
from lakehouse.contract import Layer
from lakehouse.pipeline.engines import DuckDBEngine, Engine
from lakehouse.pipeline.kinds import KINDS, Context, GateFactory, Inputs, NoChecks, app_id, rebuild
from lakehouse.pipeline.registry import Model, load_models
from lakehouse.results import ModelResult, TransformResult
from lakehouse.storage.base import HistoryUnavailableError, TableStore
from lakehouse.storage.locks import hold

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]


class PipelineRunner:
    def __init__(
        self, settings: Settings, store: TableStore, *, engine: Callable[[], Engine] | None = None,
        gate: GateFactory | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self._engine = engine or (lambda: DuckDBEngine(settings, store))
        self._gate: GateFactory = gate or (lambda engine, run_id: NoChecks())
        self.last_error: Exception | None = None  # why the last failed run failed (its cause)

    def models(self, layer: Layer | str) -> list[Model]:
        return [m for m in load_models() if m.table.layer == layer]

    def run_layer(
        self, layer: Layer, *, full_refresh: bool = False, progress: Progress | None = None
    ) -> TransformResult:
        models = self.models(layer)
        engine = self._engine()
        result = TransformResult(job=f"transform.{layer}", layer=layer, full_refresh=full_refresh, engine=engine.name)
        gate = self._gate(engine, result.run_id)
        ctx = Context(self.settings, self.store, engine, validate=gate)
        model: Model | None = None
        try:
            for i, model in enumerate(models):
                change = result.table(model.table.fqn)
                change.version_before = self.store.version(model.table)
                t0 = time.perf_counter()
                # Read-then-commit under the table's commit lock (`storage/locks.py`).
                with hold(self.settings, model.table):
                    outcome = self.run_model(ctx, model, full_refresh=full_refresh)
                outcome.seconds = round(time.perf_counter() - t0, 3)
                change.rows_in, change.rows_out = outcome.rows_in, outcome.rows_out
                change.version_after = self.store.version(model.table)
                result.models.append(outcome)
                if progress:
                    progress(model.table.fqn, i + 1, len(models))
        except Exception as exc:
            # A failed run still reports what it did: the models before, the checks, the error.
            # The caller records the result and then raises (`TransformError`).
            log.warning("%s failed: %s", result.job, exc)
            self.last_error = exc
            result.finish("failed", str(exc))
            result.failed_table = model.table.fqn if model is not None else None
        except BaseException as exc:
            result.finish("failed", f"interrupted: {type(exc).__name__}")
            raise
        else:
            result.finish()
        finally:
            result.checks = list(gate.results)
            engine.close()
        return result

    def inputs(self, model: Model) -> Inputs:
        inputs = Inputs()
        consumed = self.store.txn_versions(model.table, [app_id(model.table, t) for t in model.depends_on])
        for t in model.depends_on:
            inputs.current[t] = self.store.version(t)
            inputs.consumed[t] = consumed.get(app_id(model.table, t))
        return inputs

    def run_model(self, ctx: Context, model: Model, *, full_refresh: bool = False) -> ModelResult:
        inputs = self.inputs(model)
        exists = self.store.exists(model.table)
        if exists and not full_refresh and not inputs.changed:
            return ModelResult(table=model.table.fqn, kind=model.kind, mode="skipped", reason="no new input")
        if not exists or full_refresh or not inputs.all_consumed:
            return rebuild(ctx, model, inputs)
        try:
            return KINDS[model.kind].incremental(ctx, model, inputs)
        except HistoryUnavailableError as exc:
            # What is new can no longer be read (history cleaned up): rebuilding is always right.
            log.warning("%s: %s; running a full refresh", model.table, exc)
            return rebuild(ctx, model, inputs, reason=str(exc))
