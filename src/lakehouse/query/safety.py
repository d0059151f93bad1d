"""Read-only SQL: parse with sqlglot (DuckDB dialect), refuse anything but one SELECT over lake tables.

Every table reference must resolve (by `storage.names.resolve`) to a lake table; CTE names are
the only other names allowed. File paths, table functions (`read_csv`, `glob`, `range`, ...),
COPY/ATTACH/INSTALL/LOAD/PRAGMA/SET, DDL, DML and multiple statements are refused with a
`QueryError` that says why and, when sqlglot knows it, where (0-based character offset).
This is the first wall; the DuckDB connection itself is the second (no file access, locked).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from lakehouse.exceptions import QueryError
from lakehouse.storage.names import TableId, resolve

MAX_SQL_CHARS = 100_000

_FORBIDDEN_NODES: tuple[type[exp.Expr], ...] = (
    exp.DDL, exp.DML, exp.Command, exp.Pragma, exp.Set, exp.Copy, exp.Attach, exp.Detach,
    exp.Install, exp.Describe, exp.Summarize, exp.Show, exp.Use, exp.Transaction, exp.Commit,
    exp.Rollback, exp.Into, exp.Drop, exp.Alter, exp.Create, exp.Insert, exp.Update, exp.Delete,
    exp.Merge, exp.LoadData, exp.Cache, exp.Uncache, exp.Refresh, exp.Kill, exp.Analyze,
)  # fmt: skip

# Scalar functions that reach outside the query (files, settings, extensions) in DuckDB.
_FORBIDDEN_PREFIXES = ("read_", "parquet_", "duckdb_", "pragma_", "sniff_", "iceberg_", "delta_", "glob")
_FORBIDDEN_FUNCS = frozenset({"query", "query_table", "getenv", "current_setting", "load_extension", "sql_auto_complete", "which_secret"})


@dataclass
class ParsedQuery:
    """A validated statement and the lake tables it reads (keyed by node identity)."""

    sql: str
    tree: exp.Expr
    refs: dict[int, TableId]

    @property
    def tables(self) -> list[TableId]:
        return sorted(set(self.refs.values()))

    def render(self, name_for: Callable[[TableId], tuple[str, str]]) -> str:
        """SQL text with each lake reference bound to the (schema, name) `name_for` gives."""
        refs = self.refs

        def swap(node: exp.Expr) -> exp.Expr:
            t = refs.get(id(node))
            if t is None or not isinstance(node, exp.Table):
                return node
            schema, name = name_for(t)
            alias = node.args.get("alias")
            new = exp.Table(this=exp.to_identifier(name, quoted=True))
            if schema:
                new.set("db", exp.to_identifier(schema, quoted=True))
            if alias is None:
                alias = exp.TableAlias(this=exp.to_identifier(node.name, quoted=True))
            new.set("alias", alias)
            return new

        tree = self.tree.copy()
        # copy() makes new node ids: map them by walking both trees in the same order
        old_nodes = list(self.tree.walk())
        new_nodes = list(tree.walk())
        refs = {id(n): refs[id(o)] for o, n in zip(old_nodes, new_nodes, strict=True) if id(o) in refs}
        return tree.transform(swap, copy=False).sql(dialect="duckdb")


def _position(sql: str, err: dict[str, object]) -> int | None:
    line, col = err.get("line"), err.get("col")
    if not isinstance(line, int) or not isinstance(col, int):
        return None
    starts = [0]
    for i, ch in enumerate(sql):
        if ch == "\n":
            starts.append(i + 1)
    if line - 1 >= len(starts):
        return None
    highlight = str(err.get("highlight") or "")
    return max(0, min(len(sql), starts[line - 1] + col - len(highlight)))


def parse_sql(sql: str) -> list[exp.Expr]:
    try:
        return [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except ParseError as e:
        first = e.errors[0] if e.errors else {}
        raise QueryError(
            f"SQL syntax error: {first.get('description', str(e))}",
            position=_position(sql, first),
            hint="only a single read-only SELECT is accepted",
        ) from None
    except TokenError as e:
        raise QueryError(f"SQL syntax error: {e}", hint="check quotes and brackets") from None


def _func_name(node: exp.Func) -> str:
    return (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()


def _check_function(node: exp.Func) -> None:
    name = _func_name(node)
    if name in _FORBIDDEN_FUNCS or name.startswith(_FORBIDDEN_PREFIXES):
        raise QueryError(f"function '{name}' is not allowed", hint="only lake tables may be read")


def _in_from(node: exp.Expr) -> bool:
    parent = node.parent
    return isinstance(parent, exp.From | exp.Join | exp.Lateral) or (
        isinstance(parent, exp.Table) and node.arg_key == "this"
    )


def validate(sql: str) -> ParsedQuery:
    """Parse and check one read-only query; raises QueryError or TableNotFoundError."""
    if not sql or not sql.strip():
        raise QueryError("empty SQL", hint="send a SELECT statement")
    if len(sql) > MAX_SQL_CHARS:
        raise QueryError(f"SQL longer than {MAX_SQL_CHARS} characters")
    statements = parse_sql(sql)
    if len(statements) != 1:
        raise QueryError(f"exactly one statement is allowed, got {len(statements)}")
    tree = statements[0]
    if not isinstance(tree, exp.Query) or isinstance(tree, exp.Subquery):
        kind = type(tree).__name__.upper()
        raise QueryError(f"only SELECT queries are allowed, not {kind}", position=0)
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    refs: dict[int, TableId] = {}
    for node in tree.walk():
        if isinstance(node, _FORBIDDEN_NODES):
            raise QueryError(f"{type(node).__name__.upper()} is not allowed: queries are read-only")
        if isinstance(node, exp.Func):
            _check_function(node)
            if _in_from(node):
                raise QueryError(
                    f"table function '{_func_name(node)}' is not allowed in FROM",
                    hint="read lake tables by name, e.g. gold.user_segments",
                )
        if isinstance(node, exp.Table):
            refs_t = _table_ref(node, ctes)
            if refs_t is not None:
                refs[id(node)] = refs_t
    return ParsedQuery(sql=sql, tree=tree, refs=refs)


def _table_ref(node: exp.Table, ctes: set[str]) -> TableId | None:
    if isinstance(node.this, exp.Func):
        raise QueryError(
            f"table function '{_func_name(node.this)}' is not allowed in FROM",
            hint="read lake tables by name, e.g. gold.user_segments",
        )
    if not isinstance(node.this, exp.Identifier):
        raise QueryError("only lake tables may appear in FROM", hint="e.g. FROM gold.user_segments")
    if node.args.get("catalog") is not None:
        raise QueryError(f"three-part name '{node.sql(dialect='duckdb')}' is not allowed")
    if node.args.get("version") is not None or node.args.get("when") is not None:
        raise QueryError("time travel in SQL is not supported", hint="use the preview endpoint's version=")
    name, db = node.name, node.db
    if not db and name.lower() in ctes:
        return None
    if any(ch in name for ch in "/\\*:") or (not db and "." in name):
        raise QueryError(f"file paths are not allowed: '{name}'", hint="read lake tables by name")
    return resolve(f"{db}.{name}" if db else name)


def validate_filter(text: str) -> exp.Expr:
    """A preview filter: one boolean expression over columns, no subqueries or table access."""
    try:
        cond = sqlglot.parse_one(f"SELECT 1 WHERE {text}", read="duckdb")
    except (ParseError, TokenError) as e:
        raise QueryError(f"bad filter: {e}".splitlines()[0], hint="e.g. segment = 'VIP' AND engagement_score > 50") from None
    where = cond.args.get("where")
    if not isinstance(cond, exp.Select) or where is None or len(cond.expressions) != 1 or cond.args.get("from_") or cond.args.get("from"):
        raise QueryError("filter must be a single boolean expression")
    for node in where.walk():
        if isinstance(node, (exp.Query, exp.Table, exp.Star, *_FORBIDDEN_NODES)):
            raise QueryError("filter may only use columns, literals, operators and functions")
        if isinstance(node, exp.Func):
            _check_function(node)
    extra = {k for k, v in cond.args.items() if v and k not in ("expressions", "where")}
    if extra:
        raise QueryError(f"filter must be a single boolean expression (found {', '.join(sorted(extra))})")
    condition: exp.Expr = where.this
    return condition
