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
from typing import Protocol, TypeVar

from lakehouse.config import Settings
from lakehouse.contract import Layer
from lakehouse.pipeline.engines import DuckDBEngine, Engine
from lakehouse.pipeline.kinds import KINDS, Context, GateFactory, Inputs, NoChecks, app_id, rebuild
from lakehouse.pipeline.registry import Model, load_models
from lakehouse.results import JobResult, ModelResult, Status, TableChange, TransformResult
from lakehouse.storage.base import HistoryUnavailableError, TableStore
from lakehouse.storage.locks import hold

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]


class _Walk(Protocol):
    """The report of a job that walks models (a transform, a backfill)."""

    job: str
    failed_table: str | None

    def table(self, name: str) -> TableChange: ...

    def finish(self, status: Status = "success", error: str | None = None) -> JobResult: ...


class _Outcome(Protocol):
    """One model's part of that report."""

    rows_in: int
    rows_out: int
    seconds: float


OutcomeT = TypeVar("OutcomeT", bound=_Outcome)


class ModelJob:
    """What the runner and the backfill share: how they are built, where a model's inputs are,
    and how they walk their models."""

    def __init__(
        self, settings: Settings, store: TableStore, *, engine: Callable[[], Engine] | None = None,
        gate: GateFactory | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self._engine = engine or (lambda: DuckDBEngine(settings, store))
        self._gate: GateFactory = gate or (lambda engine, run_id: NoChecks())
        self.last_error: Exception | None = None  # why the last failed run failed (its cause)

    def inputs(self, model: Model) -> Inputs:
        """Per input: the version the model's commits say they cover, and the version it is at now."""
        inputs = Inputs()
        consumed = self.store.txn_versions(model.table, [app_id(model.table, t) for t in model.depends_on])
        for t in model.depends_on:
            inputs.current[t] = self.store.version(t)
            inputs.consumed[t] = consumed.get(app_id(model.table, t))
        return inputs

    def walk(
        self, result: _Walk, models: list[Model], step: Callable[[Model], OutcomeT],
        done: Callable[[Model, OutcomeT], None],
    ) -> None:
        """`step` each model in order, recording its table's versions before and after, its rows
        and its time, then hand its outcome to `done`. An error ends the walk and the run as
        failed, naming the model (the models before stay in the report; `last_error` keeps the
        cause: the caller records the result and then raises). An interrupt finishes the run as
        failed and goes on up."""
        model: Model | None = None
        try:
            for model in models:
                change = result.table(model.table.fqn)
                change.version_before = self.store.version(model.table)
                t0 = time.perf_counter()
                outcome = step(model)
                outcome.seconds = round(time.perf_counter() - t0, 3)
                change.rows_in, change.rows_out = outcome.rows_in, outcome.rows_out
                change.version_after = self.store.version(model.table)
                done(model, outcome)
        except Exception as exc:
            log.warning("%s failed: %s", result.job, exc)
            self.last_error = exc
            result.finish("failed", str(exc))
            result.failed_table = model.table.fqn if model is not None else None
        except BaseException as exc:
            result.finish("failed", f"interrupted: {type(exc).__name__}")
            raise
        else:
            result.finish()


class PipelineRunner(ModelJob):
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

        def step(model: Model) -> ModelResult:
            # Read-then-commit under the table's commit lock (`storage/locks.py`).
            with hold(self.settings, model.table):
                return self.run_model(ctx, model, full_refresh=full_refresh)

        def done(model: Model, outcome: ModelResult) -> None:
            result.models.append(outcome)
            if progress:
                progress(model.table.fqn, len(result.models), len(models))

        try:
            self.walk(result, models, step, done)
        finally:
            result.checks = list(gate.results)
            engine.close()
        return result

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
