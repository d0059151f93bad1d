"""Parse NDJSON lines into typed bronze rows and quarantined rows, vectorised in DuckDB.

Input is an Arrow table of (`position`, `line`), positions unique. A blank line (JSON
whitespace only) is quarantined as `blank record`, or skipped when the caller says blank
lines are not records (landing files). One SQL pass reads every field with
`json_transform`, asks each field's JSON type with one `json_type`, checks every value
against the contract (`schemas.py`: type and range), and classifies each line:

- not strict JSON, not an object, a missing or invalid required field -> quarantine, with
  the reason;
- unknown fields, and optional fields whose value is not valid (nulled) -> kept as sent in
  `_rescued_data`, the optional fields' reasons in `_rescue_reason`.

Strictness (`strict.py`): lines the fast reader cannot vouch for are checked again, exactly,
in Python — a few per batch, not every line.
"""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.ingest import strict
from lakehouse.ingest.landing import INVALID_UTF8
from lakehouse.ingest.schemas import MAX_DEPTH, TIME_HI, TIME_LO, Field, SourceSchema

# ISO-8601 as the contract accepts it. DuckDB's own cast is far more lenient (`24:00`,
# `+25:00`, zone names, one-digit fields, five-digit years, `epoch`, `infinity`), so the
# text must match this before it is cast.
TIMESTAMP_PATTERN = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?"
    r"(Z|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)?"
)
# Unicode White_Space: what a blank required string may consist of.
_WS_CODES = (9, 10, 11, 12, 13, 32, 133, 160, 5760, *range(8192, 8203), 8232, 8233, 8239, 8287, 12288)
_WS_CLASS = r"[\t-\r \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]*"
_INTS = "('BIGINT', 'UBIGINT')"
_NUMS = "('BIGINT', 'UBIGINT', 'DOUBLE')"
# A NaN/Infinity literal inside nested JSON text (minified by the reader: no spaces).
_NONFINITE_TOKEN = r"(^|[:,\[])-?(?i:nan|inf)"
# ... or a `{` past the first character: an object inside the JSON field (its keys unseen).
_NESTED = _NONFINITE_TOKEN + r"|.\{"
_SCAN_ROWS = 32_768
# Good rows between bad ones are kept as zero-copy slices when there are few: the Delta
# writer pays per Arrow batch, so past this many a filter (one copy) is cheaper.
_MAX_SLICES = 32


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _path(keys: tuple[str, ...]) -> str:
    return "$" + "".join("." + json.dumps(k) for k in keys)


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _label(f: Field) -> str:
    return ".".join(f.keys)


def _ts(t: object) -> str:
    return f"TIMESTAMPTZ {_lit(str(t))}"


class _FieldSql:
    """SQL fragments for one contract field, over the CTE columns `s` (values), `ty` (types)."""

    def __init__(self, f: Field, i: int, top_level: bool) -> None:
        self.f = f
        self.ty = f"ty[{i}]"
        self.top_level = top_level
        self.col = f"_v{i}"  # its value, typed as the contract says (NULL when not valid)
        name = _q(f.name)
        self.raw = f"s.{name}" if top_level else f"json_extract_string(oj, {_lit(_path(f.keys))})"

    @property
    def present(self) -> str:
        return f"coalesce({self.ty}, 'NULL') <> 'NULL'"

    def value(self) -> str:
        """The typed value when valid, else NULL."""
        f, ty, raw = self.f, self.ty, self.raw
        if f.kind == "json":
            return raw
        if f.kind == "string":
            if not f.required:
                return f"CASE WHEN {ty} = 'VARCHAR' THEN {raw} END"
            return f"CASE WHEN {ty} = 'VARCHAR' AND NOT ({_blank(raw)}) THEN {raw} END"
        if f.kind == "integer":
            lo, hi = f.bounds
            v = raw if self.top_level else f"TRY_CAST({raw} AS BIGINT)"
            return f"CASE WHEN {ty} IN {_INTS} AND {v} BETWEEN {lo} AND {hi} THEN CAST({v} AS {f.duck_type}) END"
        if f.kind == "number":
            return f"CASE WHEN {ty} IN {_NUMS} AND isfinite({raw}) THEN {raw} END"
        if f.kind == "timestamp":
            t = f"TRY_CAST({raw} AS TIMESTAMPTZ)"
            return (
                f"CASE WHEN {ty} = 'VARCHAR' AND regexp_full_match({raw}, {_lit(TIMESTAMP_PATTERN)}) "
                f"AND {t} >= {_ts(TIME_LO)} AND {t} < {_ts(TIME_HI)} THEN {t} END"
            )
        raise ValueError(f"unknown field kind {f.kind!r}")

    @property
    def problem_expr(self) -> str:
        """Present but not valid (JSON fields are always valid)."""
        return "false" if self.f.kind == "json" else f"({self.present} AND {self.col} IS NULL)"

    @property
    def problem(self) -> str:
        """The flag column holding `problem_expr`, computed once per row."""
        return "false" if self.f.kind == "json" else self.col.replace("_v", "_p")

    def what(self) -> str:
        """SQL text: why the present value is not valid ('is not a valid integer', ...)."""
        f, ty, raw = self.f, self.ty, self.raw
        if f.kind == "string":
            return f"CASE WHEN {ty} <> 'VARCHAR' THEN 'is not a string' ELSE 'is blank' END"
        if f.kind == "integer":
            lo, hi = f.bounds
            # A JSON integer beyond 64 bits is read as a double; its text tells it apart.
            text = f"json_extract(oj, {_lit(_path(f.keys))})::VARCHAR"
            return (
                f"CASE WHEN {ty} IN {_INTS} OR ({ty} = 'DOUBLE' AND regexp_full_match({text}, '-?[0-9]+')) "
                f"THEN {_lit(f'is out of range [{lo}, {hi}]')} ELSE 'is not a valid integer' END"
            )
        if f.kind == "number":
            return f"CASE WHEN {ty} IN {_NUMS} THEN 'is out of range (not a finite double)' ELSE 'is not a valid number' END"
        window = f"is outside [{TIME_LO:%Y-%m-%dT%H:%M:%SZ}, {TIME_HI:%Y-%m-%dT%H:%M:%SZ})"
        return (
            f"CASE WHEN {ty} = 'VARCHAR' AND regexp_full_match({raw}, {_lit(TIMESTAMP_PATTERN)}) "
            f"AND TRY_CAST({raw} AS TIMESTAMPTZ) IS NOT NULL THEN {_lit(window)} ELSE 'is not a valid timestamp' END"
        )


def _nested_check(text: str, ty: str) -> str:
    """SQL: the JSON field's text (minified by the reader) needs the exact check — a
    `nan`/`inf` token or an object below its top (one regex pass), repeated keys at its top,
    or too many openers. Costly tests run (CASE) only where a cheap one says they can matter."""
    openers = f"length({text}) - length(replace(replace({text}, '{{', ''), '[', ''))"
    return f"""CASE
        WHEN {ty} IN ('OBJECT', 'ARRAY') THEN regexp_matches({text}, {_lit(_NESTED)})
            OR CASE WHEN {ty} = 'OBJECT' AND contains({text}, ',')
                THEN len(json_keys({text})) <> list_unique(json_keys({text})) ELSE false END
            OR CASE WHEN length({text}) > {2 * MAX_DEPTH - 2} THEN {openers} > {MAX_DEPTH - 1} ELSE false END
        WHEN {ty} = 'DOUBLE' THEN NOT coalesce(isfinite(TRY_CAST({text} AS DOUBLE)), false)
        ELSE false END"""


def _blank(expr: str) -> str:
    # The regex runs only on strings that start with whitespace.
    codes = ", ".join(str(c) for c in _WS_CODES)
    return (
        f"CASE WHEN {expr} = '' THEN true WHEN unicode({expr}) IN ({codes}) "
        f"THEN regexp_full_match({expr}, {_lit(_WS_CLASS)}) ELSE false END"
    )


class RecordParser:
    """Builds the classification query once per source; `parse` runs it on a batch."""

    def __init__(self, schema: SourceSchema, con: duckdb.DuckDBPyConnection) -> None:
        self.schema = schema
        self.con = con
        self.sql = self._build_sql()

    def _build_sql(self) -> str:
        sch = self.schema
        # Timestamps are read as text: the contract's format is checked before the cast.
        struct = json.dumps({f.name: "VARCHAR" if f.kind == "timestamp" else f.duck_type for f in sch.fields})
        top = [_FieldSql(f, i + 1, True) for i, f in enumerate(sch.fields)]
        nested = [_FieldSql(f, len(top) + i + 1, False) for i, f in enumerate(sch.derived)]
        every = top + nested
        paths = ", ".join(_lit(_path(fs.f.keys)) for fs in every)
        json_fields = [fs for fs in top if fs.f.kind == "json"]

        reasons = [
            f"WHEN starts_with(line, {_lit(INVALID_UTF8)}) THEN 'invalid UTF-8'",
            "WHEN j IS NULL THEN 'malformed JSON'",
            "WHEN NOT obj THEN 'not a JSON object'",
        ]
        for fs in every:
            if fs.f.required:
                label = _label(fs.f)
                reasons.append(f"WHEN NOT {fs.present} THEN {_lit(f'missing required field {label!r}')}")
                reasons.append(f"WHEN {fs.problem} THEN {_lit(f'required field {label!r} ')} || {fs.what()}")
        optional = [fs for fs in top if not fs.f.required and fs.f.kind != "json"]
        rescue_why = ", ".join(
            f"CASE WHEN {fs.problem} THEN {_lit(f'{fs.f.name!r} ')} || {fs.what()} END" for fs in optional
        )
        any_optional = " OR ".join(fs.problem for fs in optional) or "false"
        # Known keys to remove from the record, leaving what is rescued: all of them but the
        # optional fields that are nulled (their value is kept as sent).
        always = [json.dumps(fs.f.name) + ":null" for fs in top if fs not in optional]
        patch_parts = [_lit(p) for p in always] + [
            f"CASE WHEN NOT {fs.problem} THEN {_lit(json.dumps(fs.f.name) + ':null')} END" for fs in optional
        ]
        patch = "'{' || concat_ws(',', " + ", ".join(patch_parts) + ") || '}'"
        n_known = " + ".join(f"({fs.ty} IS NOT NULL)::INTEGER" for fs in top)
        in_json = " OR ".join(f"({_nested_check(fs.col, fs.ty)})" for fs in json_fields) or "false"
        problems = " OR ".join(fs.problem for fs in every if fs.f.kind != "json") or "false"
        values = ", ".join(f"{fs.value()} AS {fs.col}" for fs in every)
        flags = ", ".join(f"{fs.problem_expr} AS {fs.problem}" for fs in every if fs.f.kind != "json") or "NULL AS _p0"
        select_fields = ", ".join(f"{fs.col} AS {_q(fs.f.name)}" for fs in every)
        return f"""
WITH p AS (
    -- `j` is NULL for invalid JSON, so no JSON function below ever sees a malformed line.
    SELECT position, line, suspect, obj, CASE WHEN json_valid(line) THEN line END AS j
    FROM batch
), t AS (
    SELECT position, line, suspect, obj, j, CASE WHEN obj THEN j END AS oj
    FROM p
), u AS (
    SELECT *, json_transform(oj, {_lit(struct)}) AS s, json_type(oj, [{paths}]) AS ty, json_keys(oj) AS k
    FROM t
), v AS (
    SELECT *, {values} FROM u
), f AS (
    SELECT *, {flags}, len(k) <> {n_known} AS extra_keys FROM v
), g AS (
    SELECT *, {any_optional} AS any_optional FROM f
), c AS (
    SELECT *, CASE {' '.join(reasons)} ELSE NULL END AS reason,
        oj IS NOT NULL AND (extra_keys OR any_optional) AS rescue
    FROM g
), w AS (
    SELECT *,
        -- Lines the fast reader cannot vouch for get the exact check (strict.py).
        j IS NOT NULL AND (suspect OR NOT obj OR (oj IS NOT NULL AND (
            extra_keys OR {problems} OR {in_json}
        ))) AS needs_check
    FROM c
)
SELECT position, reason,
    CASE WHEN reason IS NOT NULL THEN rtrim(replace(line, {_lit(INVALID_UTF8)}, ''), chr(13) || chr(10)) END AS raw,
    CASE WHEN needs_check THEN line END AS check_line,
    {select_fields},
    CASE WHEN reason IS NULL AND rescue THEN json_merge_patch(oj, {patch})::VARCHAR END AS _rescued_data,
    CASE WHEN reason IS NULL AND any_optional THEN concat_ws('; ', {rescue_why or 'NULL'}) END
        AS _rescue_reason
FROM w
"""

    def parse(self, batch: pa.Table, *, skip_blank: bool = False) -> tuple[pa.Table, pa.Table]:
        """Return (good rows with `_rescued_data`, bad rows as position/raw/reason).

        A blank line (JSON whitespace only, or null) is a bad row with the reason
        `blank record` — or, with `skip_blank` (landing files: a blank line is not a
        record), in neither output. One query, one pass; rows keep their input order
        (DuckDB preserves insertion order).
        """
        sc = strict.scan(batch.column("line"))
        positions = batch.column("position")
        if not sc.keep.all():
            positions = positions.filter(pa.array(sc.keep))
        prepared = pa.table(
            {
                "position": positions,
                "line": sc.lines,
                "suspect": pa.array(sc.suspect),
                "obj": pa.array(sc.obj),
            }
        )
        # DuckDB scans one Arrow record batch per thread: slices let every thread work.
        prepared = pa.Table.from_batches(prepared.to_batches(max_chunksize=_SCAN_ROWS), prepared.schema)
        self.con.register("batch", prepared)
        try:
            out = self.con.sql(self.sql).to_arrow_table()
        finally:
            self.con.unregister("batch")
        out = _recheck(out)
        is_bad = np.asarray(pc.is_valid(out.column("reason")))
        bad = out.select(["position", "raw", "reason"]).filter(pa.array(is_bad))
        good = _without(out.drop_columns(["reason", "raw", "check_line"]), is_bad)
        if not skip_blank and not sc.keep.all():
            bad = _with_blanks(bad, batch, ~sc.keep)
        return good, bad


def _without(t: pa.Table, drop: np.ndarray) -> pa.Table:
    """`t` without the rows marked in `drop`: the slices between them when they are few
    (no copy), else one filter."""
    if not drop.any():
        return t
    edges = np.flatnonzero(np.diff(np.concatenate(([True], drop, [True])).astype(np.int8)))
    runs = edges.reshape(-1, 2)  # [start, end) of each run of kept rows
    if len(runs) > _MAX_SLICES:
        return t.filter(pa.array(~drop))
    return pa.concat_tables([t.slice(a, b - a) for a, b in runs]) if len(runs) else t.slice(0, 0)


def _with_blanks(bad: pa.Table, batch: pa.Table, blank: np.ndarray) -> pa.Table:
    rows = batch.filter(pa.array(blank))
    line = pc.utf8_rtrim(pc.fill_null(rows.column("line"), ""), characters="\r\n")
    extra = pa.table(
        {
            "position": rows.column("position").cast(bad.schema.field("position").type),
            "raw": line.cast(bad.schema.field("raw").type),
            "reason": pa.array(["blank record"] * rows.num_rows, bad.schema.field("reason").type),
        }
    )
    return pa.concat_tables([bad, extra]).sort_by("position")


def _recheck(out: pa.Table) -> pa.Table:
    """Apply the exact check to the flagged lines; a line that fails it is quarantined with
    that reason (it comes before any field's: the record is not valid JSON at all)."""
    flagged = out.filter(pc.is_valid(out.column("check_line"))).select(["position", "check_line"])
    if not flagged.num_rows:
        return out
    found = [
        (pos, why)
        for pos, text in zip(flagged.column("position").to_pylist(), flagged.column("check_line").to_pylist(), strict=True)
        if (why := strict.problem(text)) is not None
    ]
    if not found:
        return out
    where = pc.index_in(out.column("position"), value_set=pa.array([p for p, _ in found], pa.int64()))
    new_reason = pa.array([w for _, w in found], pa.string()).take(where)
    failed = pc.is_valid(where)
    line = pc.utf8_rtrim(out.column("check_line"), characters="\r\n")
    out = out.set_column(out.schema.get_field_index("reason"), "reason", pc.coalesce(new_reason, out.column("reason")))
    raw = pc.if_else(failed, line.cast(out.schema.field("raw").type), out.column("raw"))
    return out.set_column(out.schema.get_field_index("raw"), "raw", raw)


def blank_lines(lines: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """True where a line is blank (JSON whitespace only after an optional BOM, or null)."""
    return ~strict.scan(lines).keep
