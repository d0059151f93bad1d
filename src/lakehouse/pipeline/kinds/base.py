"""What every model kind shares: the run context, the model's inputs and their progress.

What a model has consumed of each input is recorded in the model's own Delta commits: one
application transaction id per input (`transform:<target><-<input>`) whose version is the
input's Delta version the commit covers. A rerun with no new input changes nothing; a run
killed midway resumes correctly because progress and data are committed together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from lakehouse.config import Settings
from lakehouse.contract import REGISTRY, ModelKind, TableId
from lakehouse.contract.arrow import arrow_schema
from lakehouse.pipeline.engines.base import Audit, Engine
from lakehouse.pipeline.registry import Model
from lakehouse.pipeline.sql import quote
from lakehouse.results import CheckResult, ModelResult
from lakehouse.storage.base import Metadata, TableStore


@dataclass(frozen=True)
class Batch:
    """What a run is about to commit to a model's table.

    `relation` names the staged rows; `remaining` is a SELECT of the table's rows that stay as
    they are after the commit, in the declared columns (None: the commit replaces everything), so
    checks over the whole table see it as it will be; `txns` are the markers the commit carries.
    """

    relation: str
    txns: Mapping[str, int]
    remaining: str | None = None
    materialized: bool = True  # `relation` is a table in the engine (False: a view over the model)


class Gate(Protocol):
    """The hook between staging a model's rows and committing them (data quality plugs in here);
    it keeps what it found in `results`."""

    results: list[CheckResult]

    def __call__(self, model: Model, batch: Batch) -> str:
        """Given the model and its staged batch, the relation to commit (or raise to stop)."""
        ...

    def streamed(self, model: Model, batch: Batch) -> tuple[str, Audit | None]:
        """For a batch that streams into its commit (`materialized=False`): the relation to
        write and the audit the write must pass (None: checked already, or nothing to check)."""
        ...


class NoChecks:
    def __init__(self) -> None:
        self.results: list[CheckResult] = []

    def __call__(self, model: Model, batch: Batch) -> str:
        return batch.relation

    def streamed(self, model: Model, batch: Batch) -> tuple[str, Audit | None]:
        return batch.relation, None


GateFactory = Callable[[Engine, str], Gate]  # (the run's engine, the run id) -> the run's gate


def app_id(target: TableId, source: TableId) -> str:
    return f"transform:{target.fqn}<-{source.fqn}"


@dataclass
class Inputs:
    """Per input: the version last consumed (None: never) and the current version (None: not built)."""

    consumed: dict[TableId, int | None] = field(default_factory=dict)
    current: dict[TableId, int | None] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return any(self.consumed[t] != self.current[t] for t in self.current)

    @property
    def all_consumed(self) -> bool:
        return all(v is not None for v in self.consumed.values())

    def txns(self, target: TableId) -> dict[str, int]:
        return {app_id(target, t): v for t, v in self.current.items() if v is not None}

    @property
    def only(self) -> TableId:
        (t,) = self.current
        return t


@dataclass
class Context:
    settings: Settings
    store: TableStore
    engine: Engine
    validate: Gate = field(default_factory=NoChecks)

    def metadata(self, model: Model, mode: str) -> Metadata:
        return {"lakehouse.job": f"transform.{model.table.layer}", "lakehouse.mode": mode}

    def bind_new_rows(self, model: Model, inputs: Inputs, source: TableId) -> int:
        """Bind `source` to the rows appended since the version this model last consumed."""
        return self.engine.bind_changes(source, inputs.consumed[source] or 0)

    def bind_input(self, source: TableId, version: int | None, *, where: str | None = None) -> None:
        """Bind an input whole (or filtered); one that is not built yet is bound empty."""
        if version is None:
            self.engine.bind_arrow(source, arrow_schema(REGISTRY.get(source)).empty_table())
        else:
            self.engine.bind_table(source, where=where)

    def columns(self, model: Model) -> str:
        """The model's declared columns, quoted, in order (what every commit writes)."""
        return ", ".join(quote(c) for c in model.spec.column_names)

    def bind_target(self, model: Model) -> str | None:
        """The model's table as it is now, under `__target_<name>` (None when not built yet)."""
        if not self.store.exists(model.table):
            return None
        name = f"__target_{model.table.layer}_{model.table.name}"
        self.engine.bind_table(model.table, name=name)
        return name

    def count(self, relation: TableId | str) -> int:
        name = relation.fqn if isinstance(relation, TableId) else relation
        return int(self.engine.scalar(f"SELECT count(*) FROM {name}") or 0)


class Kind(Protocol):
    """A materialisation: how a model's new input becomes a commit to its table."""

    name: ClassVar[ModelKind]
    # True when an incremental run must read the input's change feed (append-only inputs).
    reads_changes: ClassVar[bool]

    def incremental(self, ctx: Context, model: Model, inputs: Inputs) -> ModelResult: ...
