"""The models: each silver/gold table the contract declares with a `model`, and its SQL.

A model's SQL (`pipeline/models/<layer>/<table>.sql`) is one SELECT in DuckDB's dialect that
reads lake tables by `layer.table` name. What it reads is found by parsing it with sqlglot
(scope by scope, so a CTE is never taken for a table), and the models run in an order
where every input is built before the models that read it (`graphlib`, which also refuses
a cycle).
"""

from __future__ import annotations

import graphlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.scope import traverse_scope

from lakehouse.contract import REGISTRY, ModelKind, ModelSpec, TableId, TableSpec
from lakehouse.exceptions import ConfigError, TableNotFoundError


@dataclass(frozen=True)
class Model:
    spec: TableSpec
    sql: str
    depends_on: tuple[TableId, ...]

    @property
    def table(self) -> TableId:
        return self.spec.id

    @property
    def model(self) -> ModelSpec:
        assert self.spec.model is not None
        return self.spec.model

    @property
    def kind(self) -> ModelKind:
        return self.model.kind

    @property
    def partition_column(self) -> str | None:
        return self.spec.partition_by[0] if self.spec.partition_by else None


def read_sql(spec: TableSpec) -> str:
    path = spec.sql_path
    if path is None:
        raise ConfigError(f"{spec.fqn} has no model")
    f = resources.files("lakehouse.pipeline") / "models" / path
    try:
        return f.read_text()
    except FileNotFoundError:
        raise ConfigError(
            f"{spec.fqn}: model SQL pipeline/models/{path} not found",
            hint="add the SQL file next to the other models",
        ) from None


def dependencies(target: TableId, sql: str) -> tuple[TableId, ...]:
    """The lake tables `sql` reads: every table source of every scope that is not a CTE."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except SqlglotError as exc:
        raise ConfigError(f"{target}: model SQL does not parse: {str(exc).splitlines()[0]}") from None
    found: set[TableId] = set()
    for scope in traverse_scope(tree):
        for source in scope.sources.values():
            if isinstance(source, exp.Table):
                name = f"{source.db}.{source.name}" if source.db else source.name
                try:
                    found.add(REGISTRY.resolve(name))
                except TableNotFoundError:
                    raise ConfigError(
                        f"{target}: model reads '{name}', which is not a table of the contract",
                        hint="declare it in lakehouse/contract or fix the name",
                    ) from None
    found.discard(target)
    return tuple(sorted(found))


def _order(models: dict[TableId, Model]) -> list[Model]:
    graph = {t: {d for d in m.depends_on if d in models} for t, m in models.items()}
    sorter = graphlib.TopologicalSorter(graph)
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = " -> ".join(str(t) for t in exc.args[1])
        raise ConfigError(f"the models read each other in a cycle: {cycle}") from None
    order: list[TableId] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())  # deterministic among independent models
        order.extend(ready)
        sorter.done(*ready)
    return [models[t] for t in order]


def build_models(specs: list[TableSpec]) -> tuple[Model, ...]:
    models: dict[TableId, Model] = {}
    for spec in specs:
        sql = read_sql(spec)
        models[spec.id] = Model(spec, sql, dependencies(spec.id, sql))
    return tuple(_order(models))


@cache
def load_models() -> tuple[Model, ...]:
    """Every model, in dependency order (inputs before the models that read them)."""
    return build_models(REGISTRY.models())


def model_for(name: str | TableId) -> Model | None:
    t = REGISTRY.resolve(name) if isinstance(name, str) else name
    return next((m for m in load_models() if m.table == t), None)
