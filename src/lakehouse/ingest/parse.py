"""Parse NDJSON lines into typed bronze rows and quarantined rows, vectorised in DuckDB.

Input is an Arrow table of (`position`, `line`); one SQL pass validates the JSON, reads the
contract's fields with `json_transform` (lenient: a value that does not fit becomes NULL),
and classifies each line:

- malformed JSON, not an object, a missing or unreadable required field -> quarantine, with reason;
- unknown fields and optional fields of the wrong type -> kept in `_rescued_data` as sent.
"""

from __future__ import annotations

import json

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.ingest.landing import INVALID_UTF8
from lakehouse.ingest.schemas import SourceSchema

# key -> its value as sent, for the `_rescued_data` object.
_RESCUE_PAIR = """lambda x: {'k': x, 'v': json_extract(j, '$."' || replace(x, '"', '\\"') || '"')}"""

_FRIENDLY = {"TIMESTAMPTZ": "timestamp", "BIGINT": "integer", "INTEGER": "integer", "DOUBLE": "number"}


def _friendly(duck_type: str) -> str:
    return _FRIENDLY.get(duck_type, duck_type.lower())


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _path(name: str) -> str:
    return "$." + json.dumps(name)


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


class RecordParser:
    """Builds the classification query once per source; `parse` runs it on a batch."""

    def __init__(self, schema: SourceSchema, con: duckdb.DuckDBPyConnection) -> None:
        self.schema = schema
        self.con = con
        self.sql = self._build_sql()

    def _build_sql(self) -> str:
        sch = self.schema
        struct = json.dumps({f.name: f.duck_type for f in sch.fields})
        known = ", ".join(_lit(n) for n in sch.names)
        typed = [f for f in sch.fields if f.duck_type not in ("VARCHAR", "JSON")]

        def present(name: str) -> str:
            return f"coalesce(json_type(j, {_lit(_path(name))}), 'NULL') <> 'NULL'"

        reasons = [
            f"WHEN starts_with(line, {_lit(INVALID_UTF8)}) THEN 'invalid UTF-8'",
            "WHEN NOT ok THEN 'malformed JSON'", "WHEN jt <> 'OBJECT' THEN 'not a JSON object'"]
        for f in sch.fields:
            if not f.required:
                continue
            reasons.append(
                f"WHEN s.{_q(f.name)} IS NULL AND NOT {present(f.name)} "
                f"THEN {_lit(f'missing required field {f.name!r}')}"
            )
            if f.duck_type not in ("VARCHAR", "JSON"):
                reasons.append(
                    f"WHEN s.{_q(f.name)} IS NULL "
                    f"THEN {_lit(f'required field {f.name!r} is not a valid {_friendly(f.duck_type)}')}"
                )
        for _col, path, duck, _ in sch.derived:
            reasons.append(
                f"WHEN TRY_CAST(json_extract_string(j, {_lit(path)}) AS {duck}) IS NULL "
                f"THEN {_lit(f'missing or invalid required field {path[2:]!r}')}"
            )
        # Optional typed fields whose value was present but did not fit the type.
        mismatch_items = [
            f"CASE WHEN s.{_q(f.name)} IS NULL AND {present(f.name)} THEN {_lit(f.name)} END"
            for f in typed
            if not f.required
        ]
        mismatch = f"list_filter([{', '.join(mismatch_items)}], lambda x: x IS NOT NULL)" if mismatch_items else "[]"
        # Cheap test first: more keys than the contract has, or an optional typed field nulled.
        mismatch_any = " OR ".join(
            f"(s.{_q(f.name)} IS NULL AND {present(f.name)})" for f in typed if not f.required
        ) or "false"
        derived_cols = "".join(
            f", TRY_CAST(json_extract_string(j, {_lit(path)}) AS {duck}) AS {_q(col)}"
            for col, path, duck, _ in sch.derived
        )
        select_fields = ", ".join(f"s.{_q(n)} AS {_q(n)}" for n in sch.names)
        return f"""
WITH p AS (
    -- `j` is NULL for invalid JSON, so no JSON function below ever sees a malformed line.
    SELECT position, line, CASE WHEN json_valid(line) THEN line END AS j
    FROM batch WHERE trim(line) <> ''
), o AS (
    -- Valid JSON whose first character is a brace is an object: no second parse to ask its type.
    SELECT position, line, j, j IS NOT NULL AS ok,
        CASE WHEN j IS NULL THEN NULL WHEN starts_with(ltrim(j), '{{') THEN 'OBJECT' ELSE 'OTHER' END AS jt
    FROM p
), t AS (
    SELECT position, line, ok, coalesce(jt, '') AS jt,
        CASE WHEN jt = 'OBJECT' THEN j END AS j,
        json_transform(CASE WHEN jt = 'OBJECT' THEN j END, {_lit(struct)}) AS s,
        json_keys(CASE WHEN jt = 'OBJECT' THEN j END) AS k
    FROM o
), c AS (
    SELECT *, CASE {' '.join(reasons)} ELSE NULL END AS reason,
        list_filter(k, lambda x: x NOT IN ({known})) AS unknown
    FROM t
)
SELECT position, reason,
    CASE WHEN reason IS NOT NULL THEN rtrim(replace(line, {_lit(INVALID_UTF8)}, ''), chr(13) || chr(10)) END AS raw,
    {select_fields}{derived_cols},
    CASE WHEN reason IS NULL AND (len(unknown) > 0 OR {mismatch_any}) THEN
        to_json(map_from_entries(list_transform(
            list_concat(unknown, {mismatch}),
            {_RESCUE_PAIR}
        )))::VARCHAR
    END AS _rescued_data
FROM c
"""

    def parse(self, batch: pa.Table) -> tuple[pa.Table, pa.Table]:
        """Return (good rows with `_rescued_data`, bad rows as position/raw/reason).

        One query, one pass; rows keep their input order (DuckDB preserves insertion order).
        """
        self.con.register("batch", batch)
        try:
            out = self.con.sql(self.sql).to_arrow_table()
        finally:
            self.con.unregister("batch")
        is_bad = pc.is_valid(out.column("reason"))
        bad = out.filter(is_bad).select(["position", "raw", "reason"])
        good = out.filter(pc.invert(is_bad)).drop_columns(["reason", "raw"])
        return good, bad
