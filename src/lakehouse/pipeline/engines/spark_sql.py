"""The models' SQL (DuckDB's dialect) as Spark SQL that computes the same thing.

sqlglot's duckdb -> spark transpile does most of it; on its own it is wrong in ways that do
not fail, so the AST is rewritten first where the two engines differ in meaning:

- `list(x ORDER BY k)` loses its order and `first/last(x ORDER BY k)` their ORDER BY: they
  become a sort of structs (`array_sort`) and `min_by`/`max_by` over a struct of the keys,
  with DuckDB's NULLS LAST made explicit. `list(x)` keeps NULL elements as DuckDB does.
- `/` is DuckDB's double division (Spark keeps decimals exact), and `round(x, n)` rounds
  the double's exact binary value half away from zero as DuckDB does (Spark rounds its
  shortest decimal form: `round(2.675, 2)` is 2.67 on DuckDB, 2.68 on Spark).
- `epoch_us`, `isfinite`, `quantile_cont`, `strftime` patterns with literal text: Spark's own.
- Counts and date parts are BIGINT as in DuckDB (Spark's `size`, `length`, `extract`, `hour`
  ... are INT): the quality gate's schema check holds a batch to the declared types.
- `regexp_full_match` (the quality checks' `matches`) is an anchored `RLIKE` (`\\z`: a final
  newline is not skipped, as RE2's full match does not skip it); `to_json(alias)` of a row (the
  quarantine) is `to_json(struct(alias.*))` with NULL fields kept and DuckDB's timestamp layout.
- QUALIFY and `* EXCLUDE` stay native (Spark 4 has both; sqlglot would expand QUALIFY into a
  subquery whose `SELECT *` keeps the row-number column).
- `layer.table` names become temp-view names (`layer__table`): Spark temp views cannot be
  qualified by a database, and creating databases would make them catalog objects that
  cannot point at in-memory inputs (the rows an incremental run binds).

`UNION ALL BY NAME` has no Spark SQL form; the engine runs it with `unionByName`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import sqlglot
from sqlglot import exp, transforms
from sqlglot.dialects.spark import Spark
from sqlglot.errors import SqlglotError
from sqlglot.generators.spark import SparkGenerator

from lakehouse.exceptions import ConfigError

# strftime codes -> Java DateTimeFormatter letters (the ones the lake's models may use).
_STRFTIME = {
    "%Y": "yyyy", "%m": "MM", "%d": "dd", "%H": "HH", "%M": "mm", "%S": "ss", "%f": "SSSSSS",
    "%j": "DDD", "%y": "yy", "%b": "MMM", "%B": "MMMM", "%a": "EEE", "%A": "EEEE", "%p": "a",
    "%I": "hh", "%z": "xx", "%Z": "zzz",
}
_SPLIT = 134217729.0  # 2^27 + 1: Veltkamp's split of a double into two 26-bit halves


class UnsupportedOnSparkError(ConfigError):
    """Model SQL that has no Spark translation that computes the same thing."""


class LakeSpark(Spark):
    """Spark 4's SQL: like sqlglot's Spark, but QUALIFY is native (Spark 4 has it)."""

    class Generator(SparkGenerator):
        TRANSFORMS: ClassVar[dict[type[exp.Expr], Callable[..., str]]] = {
            **SparkGenerator.TRANSFORMS,
            exp.Select: transforms.preprocess(
                [transforms.eliminate_distinct_on, transforms.unnest_to_explode, transforms.any_to_exists]
            ),
        }


def view_name(name: str) -> str:
    """The temp view a `layer.table` name (or a plain name) is bound to."""
    return name.replace(".", "__")


def parse(sql: str) -> exp.Expression:
    try:
        tree: Any = sqlglot.parse_one(sql, read="duckdb")
    except SqlglotError as exc:
        raise ConfigError(f"SQL does not parse: {str(exc).splitlines()[0]}") from None
    assert isinstance(tree, exp.Expression)
    return tree


def to_spark(sql: str | exp.Expression) -> str:
    """`sql` (DuckDB's dialect) as Spark SQL."""
    tree = parse(sql) if isinstance(sql, str) else sql
    return str(_rewrite(tree.copy()).sql(dialect=LakeSpark))


def union_by_name(sql: str) -> tuple[str, str, bool] | None:
    """(left, right, distinct) when `sql` is `left UNION [ALL] BY NAME right`, else None."""
    tree = parse(sql)
    if isinstance(tree, exp.Union) and tree.args.get("by_name"):
        if tree.args.get("with"):
            raise UnsupportedOnSparkError("UNION BY NAME under a WITH clause is not supported on Spark")
        return tree.left.sql(dialect="duckdb"), tree.right.sql(dialect="duckdb"), bool(tree.args.get("distinct"))
    for node in tree.find_all(exp.Union):
        if node.args.get("by_name"):
            raise UnsupportedOnSparkError("UNION BY NAME is supported on Spark only as the outermost query")
    return None


def _rewrite(tree: exp.Expression) -> exp.Expression:
    return tree.transform(_node, copy=False)


def _sub(node: exp.Expression) -> exp.Expression:
    """A child, rewritten before it is embedded in a replacement (which is not visited again)."""
    return _rewrite(node.copy())


def _spark(template: str, **parts: exp.Expression) -> exp.Expression:
    """A Spark expression from `template`, with `{name}` placeholders filled by expressions."""
    tree = sqlglot.parse_one(template.format(**{k: f"__part_{k}" for k in parts}), read="spark")

    def fill(n: exp.Expression) -> exp.Expression:
        if isinstance(n, exp.Column) and not n.table and n.name.startswith("__part_"):
            return parts[n.name.removeprefix("__part_")].copy()
        return n

    return tree.transform(fill, copy=False)


def _node(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Table) and node.args.get("db") and not node.args.get("catalog"):
        return exp.Table(this=exp.to_identifier(f"{node.db}__{node.name}"), alias=node.args.get("alias"))
    if isinstance(node, exp.ArrayAgg):
        return _list(node)
    if isinstance(node, exp.First | exp.Last) and isinstance(node.this, exp.Order):
        fn = "MIN_BY" if isinstance(node, exp.First) else "MAX_BY"
        return _spark(f"{fn}({{v}}, {{k}})", v=_sub(node.this.this), k=_sort_key(node.this, None))
    if isinstance(node, exp.PercentileCont) and node.args.get("expression") is not None:
        return _quantile_cont(node)
    if isinstance(node, exp.Div) and not node.args.get("typed") and not node.args.get("safe"):
        return exp.Div(this=exp.cast(_sub(node.this), "DOUBLE"), expression=_sub(node.expression))
    if isinstance(node, exp.Round):
        return _round(node)
    if isinstance(node, exp.TimeToStr) and isinstance(node.args.get("format"), exp.Literal):
        return _spark("DATE_FORMAT({x}, {f})", x=_sub(node.this), f=exp.Literal.string(java_pattern(node.text("format"))))
    if isinstance(node, _INT_ON_SPARK) and not isinstance(node.parent, exp.Cast):
        return exp.cast(_rewritten_children(node), "BIGINT")
    if isinstance(node, exp.RegexpFullMatch):
        return _full_match(node)
    if isinstance(node, exp.Anonymous):
        name, args = node.name.lower(), node.expressions
        if name == "to_json" and len(args) == 1 and _is_row_alias(args[0]):
            return _spark(f"TO_JSON(STRUCT({args[0].name}.*), {_JSON_OPTIONS})")
        if name in ("epoch_us", "epoch_ms") and len(args) == 1:
            return _spark("UNIX_MICROS({x})" if name == "epoch_us" else "UNIX_MILLIS({x})", x=_sub(args[0]))
        if name in ("isfinite", "isinf") and len(args) == 1:
            op = "<" if name == "isfinite" else "="
            return _spark(f"ABS({{x}}) {op} CAST('Infinity' AS DOUBLE)", x=_sub(args[0]))
    return node


# DuckDB returns BIGINT for these, Spark INT.
_INT_ON_SPARK = (
    exp.ArraySize, exp.Length, exp.Extract, exp.Year, exp.Month, exp.Day, exp.Hour, exp.Minute,
    exp.Second, exp.DayOfWeek, exp.DayOfMonth, exp.DayOfYear, exp.WeekOfYear, exp.Quarter,
)


def _rewritten_children(node: exp.Expression) -> exp.Expression:
    """A copy of `node` whose arguments are rewritten (the node itself kept)."""
    out = node.copy()
    for key, value in out.args.items():
        if isinstance(value, exp.Expression):
            out.set(key, _sub(value))
        elif isinstance(value, list):
            out.set(key, [_sub(v) if isinstance(v, exp.Expression) else v for v in value])
    return out


# NULL fields kept (Spark drops them by default) and timestamps laid out as DuckDB's to_json
# does (`2026-03-01 10:00:00.120000+00`; DuckDB trims the fraction's trailing zeros).
_JSON_OPTIONS = (
    "MAP('ignoreNullFields', 'false', 'timestampFormat', 'yyyy-MM-dd HH:mm:ss.SSSSSSx', "
    "'timestampNTZFormat', 'yyyy-MM-dd HH:mm:ss.SSSSSS')"
)


def _is_row_alias(arg: exp.Expression) -> bool:
    """Whether `arg` is a bare name of a relation in the enclosing SELECT's FROM (DuckDB reads
    it as the whole row, a struct; Spark has no such reference)."""
    if not isinstance(arg, exp.Column) or arg.table:
        return False
    select = arg.find_ancestor(exp.Select)
    if select is None:
        return False
    sources = [select.args.get("from_"), *(select.args.get("joins") or [])]
    names = {t.alias_or_name for src in sources if src is not None for t in [src.this]}
    return arg.name in names


def _full_match(node: exp.RegexpFullMatch) -> exp.Expression:
    pattern = node.expression
    if isinstance(pattern, exp.Literal) and pattern.is_string:
        anchored: exp.Expression = exp.Literal.string("^(?:" + pattern.name + ")\\z")
    else:
        anchored = _spark("CONCAT('^(?:', {p}, ')\\\\z')", p=_sub(pattern))
    return exp.RegexpLike(this=_sub(node.this), expression=anchored)


def _sort_key(order: exp.Order, value: exp.Expression | None) -> exp.Expression:
    """A struct that sorts like `ORDER BY ...` (DuckDB's default NULLS LAST), `value` last."""
    fields: list[exp.Expression] = []
    for i, o in enumerate(order.expressions):
        if not isinstance(o, exp.Ordered):
            o = exp.Ordered(this=o, nulls_first=False)
        if o.args.get("desc"):
            raise UnsupportedOnSparkError(
                "an ordered list/first/last with DESC has no Spark translation here; order ascending"
            )
        key = _sub(o.this)
        flag = exp.Not(this=exp.Is(this=key.copy(), expression=exp.Null())) if o.args.get("nulls_first") else \
            exp.Is(this=key.copy(), expression=exp.Null())
        fields += [exp.Literal.string(f"n{i}"), flag, exp.Literal.string(f"k{i}"), key]
    if value is not None:
        fields += [exp.Literal.string("v"), value]
    return exp.Anonymous(this="NAMED_STRUCT", expressions=fields)


def _list(node: exp.ArrayAgg) -> exp.Expression:
    # Elements are wrapped in a struct so NULLs are kept (collect_list drops them, DuckDB's
    # list keeps them) and, with ORDER BY, so the keys sort the elements.
    inner = node.this
    if isinstance(inner, exp.Order):
        key = _sort_key(inner, _sub(inner.this))
        return _spark("TRANSFORM(ARRAY_SORT(COLLECT_LIST({k})), __e -> __e.v)", k=key)
    distinct = isinstance(inner, exp.Distinct)
    value = _sub(inner.expressions[0] if distinct else inner)
    wrapped = exp.Anonymous(this="NAMED_STRUCT", expressions=[exp.Literal.string("v"), value])
    agg = "COLLECT_SET" if distinct else "COLLECT_LIST"
    return _spark(f"TRANSFORM({agg}({{k}}), __e -> __e.v)", k=wrapped)


def _round(node: exp.Round) -> exp.Expression:
    """DuckDB's round of a double: its exact binary value, half away from zero.

    `p = x * 10^n` is exact except for its rounding error, which Dekker's product gives
    exactly (`err`); only when `p` lands on a tie k + 0.5 does that error decide the side.
    """
    decimals = node.args.get("decimals")
    n = int(decimals.name) if isinstance(decimals, exp.Literal) and decimals.is_int else 0 if decimals is None else None
    if n is None or not 0 <= n <= 15:
        return exp.Round(this=_sub(node.this), decimals=_sub(decimals) if decimals is not None else None)
    scale = 10.0**n
    c = _SPLIT * scale
    sh = c - (c - scale)
    sl = scale - sh
    # Lambdas bind x and p once (x may be an aggregate); names cannot clash with columns.
    template = f"""TRANSFORM(ARRAY(CAST({{x}} AS DOUBLE)), __x ->
        TRANSFORM(ARRAY(__x * {scale!r}), __p ->
          CASE WHEN __x IS NULL OR ISNAN(__x) OR ABS(__p) >= 4.0e15 THEN __x
               WHEN __p - FLOOR(__p) = 0.5 THEN
                 TRANSFORM(ARRAY({_SPLIT!r} * __x - ({_SPLIT!r} * __x - __x)), __h ->
                   TRANSFORM(ARRAY(((__h * {sh!r} - __p) + __h * {sl!r} + (__x - __h) * {sh!r}) + (__x - __h) * {sl!r}), __err ->
                     CASE WHEN __err > 0 OR (__err = 0 AND __p > 0) THEN CAST(FLOOR(__p) AS DOUBLE) + 1
                          ELSE CAST(FLOOR(__p) AS DOUBLE) END / {scale!r})[0])[0]
               ELSE ROUND(__p, 0) / {scale!r} END)[0])[0]"""
    return _spark(template, x=_sub(node.this))


def _let(name: str, value: str, body: str) -> str:
    """`body` with `name` bound to `value` once (a lambda over a one-element array)."""
    return f"TRANSFORM(ARRAY({value}), {name} -> {body})[0]"


def _two_product_error(a: str, b: str, p: str) -> str:
    """The exact rounding error of `p = a * b` (Dekker), as a Spark expression."""
    split = f"{_SPLIT!r}"
    ah, bh = f"({split} * {a} - ({split} * {a} - {a}))", f"({split} * {b} - ({split} * {b} - {b}))"
    al, bl = f"({a} - {ah})", f"({b} - {bh})"
    return f"((({ah} * {bh} - {p}) + {ah} * {bl} + {al} * {bh}) + {al} * {bl})"


def _quantile_cont(node: exp.PercentileCont) -> exp.Expression:
    """DuckDB's `quantile_cont(x, q)` of doubles, to the last bit.

    Sorted values, RN = (n - 1) * q, and between the two neighbours DuckDB's interpolation
    `lo * (1 - d) + hi * d` as its build computes it: with a fused multiply-add, i.e.
    lo * (1 - d) exactly plus hi * d, rounded once. Spark's `percentile` interpolates as
    `(hi_i - RN) * lo + (RN - lo_i) * hi`: a different last bit, which `round(p95, 3)` turns
    into a different thousandth on ties (latencies with two decimals make many).
    """
    # p = lo * w rounded, e its exact error, t = hi * d rounded; fma = round(p + e + t) via
    # TwoSum(p, t) = s + r exactly, then s + (r + e).
    fused = _let("__p", "__v.lo * __v.w", _let("__t", "__v.hi * __v.d", _let("__s", "__p + __t", _let(
        "__bp", "__s - __p",
        f"__s + (((__p - (__s - __bp)) + (__t - __bp)) + {_two_product_error('__v.lo', '__v.w', '__p')})"))))
    plain = "__v.lo * __v.w + __v.hi * __v.d"
    template = _let("__a", "ARRAY_SORT(COLLECT_LIST(CAST({x} AS DOUBLE)))", _let(
        "__rn", "(SIZE(__a) - 1) * CAST({q} AS DOUBLE)",
        f"""CASE WHEN SIZE(__a) = 0 THEN NULL
                 WHEN FLOOR(__rn) = CEIL(__rn) THEN __a[CAST(FLOOR(__rn) AS INT)]
                 ELSE {_let("__v", "NAMED_STRUCT('lo', __a[CAST(FLOOR(__rn) AS INT)], 'hi', __a[CAST(CEIL(__rn) AS INT)], "
                                   "'d', __rn - FLOOR(__rn), 'w', 1.0D - (__rn - FLOOR(__rn)))",
                         f"CASE WHEN ABS(__v.lo) < 1e300D AND ABS(__v.hi) < 1e300D THEN {fused} ELSE {plain} END")}
            END"""))
    return _spark(template, x=_sub(node.this), q=_sub(node.expression))


def java_pattern(fmt: str) -> str:
    """A strftime pattern as a Java DateTimeFormatter pattern (literal text quoted)."""
    out: list[str] = []
    literal: list[str] = []

    def flush() -> None:
        if literal:
            text = "".join(literal)
            out.append("'" + text.replace("'", "''") + "'" if any(ch.isalpha() or ch == "'" for ch in text) else text)
            literal.clear()

    i = 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            code = fmt[i : i + 2]
            if code == "%%":
                literal.append("%")
            elif code in _STRFTIME:
                flush()
                out.append(_STRFTIME[code])
            else:
                raise UnsupportedOnSparkError(f"strftime code {code} has no Spark equivalent here")
            i += 2
        else:
            literal.append(fmt[i])
            i += 1
    flush()
    return "".join(out)
