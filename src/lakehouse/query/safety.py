"""Read-only SQL: parse with sqlglot (DuckDB dialect), refuse anything but one SELECT over lake tables.

Every table reference must resolve (by `lakehouse.contract.resolve`) to a lake table, unless it reads
a CTE **visible in its own scope** (sqlglot's `optimizer.scope`: a CTE defined inside a subquery
does not hide a table of the same name outside it, a derived table's alias is not a CTE).
File paths, table functions (`read_csv`, `glob`, `range`, ...), COPY/ATTACH/INSTALL/LOAD/PRAGMA/SET,
DDL, DML and multiple statements are refused with a `QueryError` that says why and, when sqlglot
knows it, where (0-based character offset). Trees deeper than `MAX_DEPTH` are refused (sqlglot's
generator and DuckDB's binder recurse on them). The functions a statement calls are collected for
the allow-list (`query.functions`) the caller's role may be held to.
This is the first wall; the engine (per-query bindings under unguessable names, worker processes
with kernel limits) is the second.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError, TokenError
from sqlglot.optimizer.scope import traverse_scope

from lakehouse.contract import TableId, resolve
from lakehouse.exceptions import QueryError
from lakehouse.query.functions import check_allowed, func_name, is_syntax

MAX_SQL_CHARS = 100_000
MAX_DEPTH = 200  # expression nesting; DuckDB's own max_expression_depth is 1000

_FORBIDDEN_NODES: tuple[type[exp.Expr], ...] = (
    exp.DDL, exp.DML, exp.Command, exp.Pragma, exp.Set, exp.Copy, exp.Attach, exp.Detach,
    exp.Install, exp.Describe, exp.Summarize, exp.Show, exp.Use, exp.Transaction, exp.Commit,
    exp.Rollback, exp.Into, exp.Drop, exp.Alter, exp.Create, exp.Insert, exp.Update, exp.Delete,
    exp.Merge, exp.LoadData, exp.Cache, exp.Uncache, exp.Refresh, exp.Kill, exp.Analyze,
)  # fmt: skip

# Scalar functions that reach outside the query (files, settings, extensions, the catalog) in
# DuckDB: refused for every role, admins included.
_FORBIDDEN_PREFIXES = ("read_", "parquet_", "duckdb_", "pragma_", "sniff_", "iceberg_", "delta_", "glob")
_FORBIDDEN_FUNCS = frozenset({"query", "query_table", "getenv", "current_setting", "load_extension", "sql_auto_complete", "which_secret"})
# CTE names that would shadow DuckDB's catalog views: refused so that no reading of them can
# ever be mistaken for a CTE.
_RESERVED_PREFIXES = ("duckdb_", "sqlite_", "pg_", "information_schema", "pragma_")

_TOO_DEEP = "expression nested too deeply"


@dataclass
class ParsedQuery:
    """A validated statement: the lake tables it reads (keyed by node identity), the nodes that
    read CTEs in scope, and the functions it calls."""

    sql: str
    tree: exp.Expr
    refs: dict[int, TableId]
    ctes: frozenset[int] = frozenset()
    functions: frozenset[str] = frozenset()

    @property
    def tables(self) -> list[TableId]:
        return sorted(set(self.refs.values()))

    def check_functions(self) -> None:
        check_allowed(self.functions)

    def render(self, name_for: Callable[[TableId], tuple[str, str]]) -> str:
        """SQL text with each lake reference bound to the (schema, name) `name_for` gives.

        Every table node is either a lake reference (bound here) or a CTE read in scope; any
        other is refused, so the text references no object but the ones bound for this query.
        """
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

        try:
            tree = self.tree.copy()
            # copy() makes new node ids: map them by walking both trees in the same order
            mapped: dict[int, TableId] = {}
            for o, n in zip(self.tree.walk(), tree.walk(), strict=True):
                if isinstance(o, exp.Table):
                    if id(o) in refs:
                        mapped[id(n)] = refs[id(o)]
                    elif id(o) not in self.ctes:
                        raise QueryError(f"unbound table reference '{o.sql(dialect='duckdb')}'")
            refs = mapped
            return tree.transform(swap, copy=False).sql(dialect="duckdb")
        except RecursionError:
            raise QueryError(_TOO_DEEP) from None
        except SqlglotError as e:
            raise QueryError(f"query cannot be run: {(str(e).splitlines() or [type(e).__name__])[0]}") from None


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
            f"SQL syntax error: {str(first.get('description', e)).splitlines()[0]}",
            position=_position(sql, first),
            hint="only a single read-only SELECT is accepted",
        ) from None
    except TokenError as e:
        raise QueryError(f"SQL syntax error: {str(e).splitlines()[0]}", hint="check quotes and brackets") from None
    except RecursionError:
        raise QueryError(_TOO_DEEP, hint=f"at most {MAX_DEPTH} levels of nesting") from None
    except (SqlglotError, ValueError, KeyError, IndexError, TypeError, AttributeError) as e:
        # sqlglot's own bugs on odd input (seen: none yet) are the user's 400, not a 500
        raise QueryError(f"SQL could not be parsed: {(str(e).splitlines() or [type(e).__name__])[0]}") from None


def _check_depth(tree: exp.Expr) -> None:
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise QueryError(_TOO_DEEP, hint=f"at most {MAX_DEPTH} levels of nesting")
        stack.extend((child, depth + 1) for child in node.iter_expressions())


def _check_function(node: exp.Func) -> None:
    name = func_name(node)
    if name in _FORBIDDEN_FUNCS or name.startswith(_FORBIDDEN_PREFIXES):
        raise QueryError(f"function '{name}' is not allowed", hint="only lake tables may be read")


def _in_from(node: exp.Expr) -> bool:
    parent = node.parent
    return isinstance(parent, exp.From | exp.Join | exp.Lateral) or (
        isinstance(parent, exp.Table) and node.arg_key == "this"
    )


def _cte_reads(tree: exp.Expr) -> frozenset[int]:
    """Ids of the table nodes that read a CTE visible in their own scope."""
    try:
        scopes = traverse_scope(tree)
    except RecursionError:
        raise QueryError(_TOO_DEEP) from None
    except Exception as e:  # what cannot be analysed cannot be shown safe: refused, never a 500
        raise QueryError(f"query could not be analysed: {(str(e).splitlines() or [type(e).__name__])[0]}") from None
    out: set[int] = set()
    for scope in scopes:
        visible = {name.lower() for name in scope.cte_sources}
        for t in scope.tables:
            if not t.args.get("db") and not t.args.get("catalog") and t.name.lower() in visible:
                if t.name.lower().startswith(_RESERVED_PREFIXES):
                    raise QueryError(f"'{t.name}' is a reserved name", hint="rename the CTE")
                out.add(id(t))
    return frozenset(out)


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
    _check_depth(tree)
    ctes = _cte_reads(tree)
    refs: dict[int, TableId] = {}
    functions: set[str] = set()
    for node in tree.walk():
        if isinstance(node, _FORBIDDEN_NODES):
            raise QueryError(f"{type(node).__name__.upper()} is not allowed: queries are read-only")
        if isinstance(node, exp.Func):
            _check_function(node)
            if _in_from(node):
                raise QueryError(
                    f"table function '{func_name(node)}' is not allowed in FROM",
                    hint="read lake tables by name, e.g. gold.user_segments",
                )
            if not is_syntax(node):
                functions.add(func_name(node))
        if isinstance(node, exp.Table) and id(node) not in ctes:
            refs[id(node)] = _table_ref(node)
    return ParsedQuery(sql=sql, tree=tree, refs=refs, ctes=ctes, functions=frozenset(functions))


def _table_ref(node: exp.Table) -> TableId:
    if isinstance(node.this, exp.Func):
        raise QueryError(
            f"table function '{func_name(node.this)}' is not allowed in FROM",
            hint="read lake tables by name, e.g. gold.user_segments",
        )
    if not isinstance(node.this, exp.Identifier):
        raise QueryError("only lake tables may appear in FROM", hint="e.g. FROM gold.user_segments")
    if node.args.get("catalog") is not None:
        raise QueryError(f"three-part name '{node.sql(dialect='duckdb')}' is not allowed")
    if node.args.get("version") is not None or node.args.get("when") is not None:
        raise QueryError("time travel in SQL is not supported", hint="use the preview endpoint's version=")
    name, db = node.name, node.db
    if any(ch in name for ch in "/\\*:") or (not db and "." in name):
        raise QueryError(f"file paths are not allowed: '{name}'", hint="read lake tables by name")
    return resolve(f"{db}.{name}" if db else name)


def validate_filter(text: str) -> str:
    """A preview filter as DuckDB SQL: one boolean expression over columns, no subqueries or
    table access, only allow-listed functions (for every role: a filter is never more)."""
    try:
        cond = sqlglot.parse_one(f"SELECT 1 WHERE {text}", read="duckdb")
    except (SqlglotError, ValueError, KeyError, IndexError, TypeError, AttributeError) as e:
        raise QueryError(f"bad filter: {(str(e).splitlines() or [type(e).__name__])[0]}",
                         hint="e.g. segment = 'VIP' AND engagement_score > 50") from None
    except RecursionError:
        raise QueryError(f"bad filter: {_TOO_DEEP}", hint=f"at most {MAX_DEPTH} levels of nesting") from None
    where = cond.args.get("where")
    if not isinstance(cond, exp.Select) or where is None or len(cond.expressions) != 1 or cond.args.get("from_") or cond.args.get("from"):
        raise QueryError("filter must be a single boolean expression")
    _check_depth(where)
    functions: set[str] = set()
    for node in where.walk():
        if isinstance(node, (exp.Query, exp.Table, exp.Star, *_FORBIDDEN_NODES)):
            raise QueryError("filter may only use columns, literals, operators and functions")
        if isinstance(node, exp.Func):
            _check_function(node)
            if not is_syntax(node):
                functions.add(func_name(node))
    check_allowed(frozenset(functions))
    extra = {k for k, v in cond.args.items() if v and k not in ("expressions", "where")}
    if extra:
        raise QueryError(f"filter must be a single boolean expression (found {', '.join(sorted(extra))})")
    try:
        return str(where.this.sql(dialect="duckdb"))
    except RecursionError:
        raise QueryError(f"bad filter: {_TOO_DEEP}") from None
    except SqlglotError as e:
        raise QueryError(f"bad filter: {(str(e).splitlines() or [type(e).__name__])[0]}") from None
