"""The SQL models: one `.sql` file per silver/gold table under `pipeline/models/<layer>/`.

Each file is a single DuckDB SELECT that reads lake tables by `layer.table` name; a header
of `-- key: value` comments says how the runner materialises it:

    -- kind: unique_key | partition | full | sessions | cdc_merge
    -- key: event_id                (unique_key: the dedup key)
    -- order: _ingested_at, _source (unique_key: earliest wins)
    -- partition: metric_date       (partition: the column replaced per run)
    -- description: ...

The runner binds each `layer.table` name to a view (the whole table, or only the slice an
incremental run must look at), so one model text serves full refresh, incremental runs and
— transpiled by sqlglot — Spark.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from lakehouse.storage.names import TableId, resolve

_TABLE_REF = re.compile(r"\b(bronze|silver|gold)\.([a-z_][a-z0-9_]*)\b")
_HEADER = re.compile(r"^--\s*([a-z_]+)\s*:\s*(.*?)\s*$")


@dataclass(frozen=True)
class Model:
    table: TableId
    sql: str
    kind: str
    description: str = ""
    options: dict[str, str] = field(default_factory=dict)

    @property
    def depends_on(self) -> list[TableId]:
        refs = {TableId(layer, name) for layer, name in _TABLE_REF.findall(_strip_comments(self.sql))}
        refs.discard(self.table)
        return sorted(refs)

    def option_list(self, name: str) -> list[str]:
        raw = self.options.get(name, "")
        return [p.strip() for p in raw.split(",") if p.strip()]


def _strip_comments(sql: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in sql.splitlines())


def _parse(table: TableId, text: str) -> Model:
    options: dict[str, str] = {}
    for line in text.splitlines():
        m = _HEADER.match(line.strip())
        if not m:
            if line.strip():
                break
            continue
        options[m.group(1)] = m.group(2)
    return Model(
        table=table,
        sql=text,
        kind=options.pop("kind", "full"),
        description=options.pop("description", ""),
        options=options,
    )


@cache
def load_models() -> tuple[Model, ...]:
    """Every model, in dependency order (inputs before the models that read them)."""
    root = resources.files("lakehouse.pipeline") / "models"
    found: dict[TableId, Model] = {}
    for layer_dir in sorted(root.iterdir(), key=lambda p: p.name):
        if not layer_dir.is_dir():
            continue
        for f in sorted(layer_dir.iterdir(), key=lambda p: p.name):
            if f.name.endswith(".sql"):
                t = TableId(layer_dir.name, f.name.removesuffix(".sql"))
                found[t] = _parse(t, f.read_text())
    return tuple(_toposort(found))


def _toposort(models: dict[TableId, Model]) -> list[Model]:
    order: list[Model] = []
    seen: set[TableId] = set()

    def visit(t: TableId) -> None:
        if t in seen or t not in models:
            return
        seen.add(t)
        for dep in models[t].depends_on:
            visit(dep)
        order.append(models[t])

    for t in sorted(models):
        visit(t)
    return order


def model_for(name: str | TableId) -> Model | None:
    t = resolve(name) if isinstance(name, str) else name
    return next((m for m in load_models() if m.table == t), None)
