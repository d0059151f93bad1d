"""Table- and column-level lineage derived from the SQL models with sqlglot.

Column lineage needs each source table's columns. They come from the Delta log when the
table exists; otherwise they are inferred from the model text itself (every column a scope
reads from a single table, or qualifies with a table's alias). A column whose origin cannot
be traced still keeps its table-level edge: lineage is best-effort per column, exact per table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.lineage import Node, lineage
from sqlglot.optimizer.scope import traverse_scope

from lakehouse.contract import TableId, resolve
from lakehouse.exceptions import LakehouseError

log = logging.getLogger(__name__)

SchemaLookup = Callable[[TableId], list[str] | None]


@dataclass(frozen=True, order=True)
class ColumnEdge:
    source: str
    source_column: str
    target: str
    target_column: str


@dataclass
class ModelLineage:
    table: str
    upstream: list[str]
    columns: list[ColumnEdge] = field(default_factory=list)
    untraced: list[str] = field(default_factory=list)  # output columns with no source column


def _table_of(node: exp.Table) -> TableId | None:
    try:
        return resolve(f"{node.db}.{node.name}" if node.db else node.name)
    except LakehouseError:
        return None  # a CTE name or something that is not a lake table


def _inferred_columns(tree: exp.Expr) -> dict[TableId, set[str]]:
    cols: dict[TableId, set[str]] = {}
    for scope in traverse_scope(tree):
        tables = {
            alias: t
            for alias, src in scope.selected_sources.items()
            if isinstance(src[1], exp.Table) and (t := _table_of(src[1])) is not None
        }
        aliases = {s.alias for s in scope.expression.selects if isinstance(s, exp.Alias)} if isinstance(scope.expression, exp.Select) else set()
        for col in scope.columns:
            if col.table in tables:
                cols.setdefault(tables[col.table], set()).add(col.name)
            elif not col.table and len(scope.selected_sources) == 1 and tables and col.name not in aliases:
                cols.setdefault(next(iter(tables.values())), set()).add(col.name)
    return cols


def _schema(tree: exp.Expr, upstream: Iterable[TableId], lookup: SchemaLookup) -> dict[str, dict[str, dict[str, str]]]:
    inferred = _inferred_columns(tree)
    schema: dict[str, dict[str, dict[str, str]]] = {}
    for t in upstream:
        names = lookup(t) or sorted(inferred.get(t, set()))
        schema.setdefault(t.layer, {})[t.name] = {n: "text" for n in names}
    return schema


def _leaves(node: Node) -> Iterable[tuple[TableId, str]]:
    for n in node.walk():
        if not n.downstream and isinstance(n.source, exp.Table):
            t = _table_of(n.source)
            if t is not None:
                yield t, n.name.rsplit(".", 1)[-1].strip('"')


def model_lineage(target: TableId, sql: str, lookup: SchemaLookup = lambda t: None) -> ModelLineage:
    # sqlglot logs a warning per column it cannot trace through a derived table; those
    # columns are reported in `untraced` instead, so keep its log quiet here.
    sqlglot_log = logging.getLogger("sqlglot")
    level = sqlglot_log.level
    sqlglot_log.setLevel(logging.ERROR)
    try:
        return _model_lineage(target, sql, lookup)
    finally:
        sqlglot_log.setLevel(level)


def _model_lineage(target: TableId, sql: str, lookup: SchemaLookup) -> ModelLineage:
    tree = sqlglot.parse_one(sql, read="duckdb")
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    upstream = sorted(
        {t for node in tree.find_all(exp.Table) if not (not node.db and node.name.lower() in ctes)
         and (t := _table_of(node)) is not None and t != target}
    )
    out = ModelLineage(table=target.fqn, upstream=[t.fqn for t in upstream])
    schema = _schema(tree, upstream, lookup)
    nodes: dict[str, Node] = {}
    try:
        got = lineage(None, tree, schema, dialect="duckdb")
        nodes = got if isinstance(got, dict) else {got.name: got}
    except SqlglotError:
        for col in tree.named_selects if isinstance(tree, exp.Query) else []:
            try:
                one = lineage(col, tree, schema, dialect="duckdb")
                if isinstance(one, Node):
                    nodes[col] = one
            except SqlglotError as e:
                log.debug("no column lineage for %s.%s: %s", target.fqn, col, e)
    edges: set[ColumnEdge] = set()
    for col, node in nodes.items():
        found = {ColumnEdge(t.fqn, c, target.fqn, col) for t, c in _leaves(node)}
        if not found:
            out.untraced.append(col)
        edges |= found
    out.columns = sorted(edges)
    return out
