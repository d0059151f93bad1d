"""Quality checks that run after each transform.

A silver model names its expectations inside its SQL (`THEN 'event_type_in_set' END` in the
`quality_issues` list); a row failing one keeps the name in `quality_issues` and
`is_valid = false`, so bad rows are flagged, never dropped. After a run every expectation is
counted over the whole table, plus a uniqueness check on each deduplicated table's key, and
the results go to the metadata store (shown by `GET /tables/{name}`).

One check is built in for every model, silver and gold: `doubles_finite` counts the rows
written whose floating-point columns hold NaN or an infinity (NULL is fine). Bronze holds
only finite doubles (the contract); a non-finite value in a later layer is an arithmetic
overflow or a division that a model should have guarded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa

from lakehouse.pipeline.engine import Engine
from lakehouse.pipeline.registry import Model, load_models
from lakehouse.storage.delta import DeltaStore

_EXPECTATION = re.compile(r"THEN\s+'([a-z0-9_]+)'\s+END", re.IGNORECASE)
FINITE = "doubles_finite"


@dataclass(frozen=True)
class CheckResult:
    table: str
    check: str
    passed: bool
    failing_rows: int


def expectations_of(model: Model) -> list[str]:
    if "quality_issues" not in model.sql:
        return []
    return sorted(set(_EXPECTATION.findall(model.sql)))


def run_checks(
    engine: Engine,
    store: DeltaStore,
    layer: str,
    since: dict[str, int | None] | None = None,
    skip: set[str] | None = None,
) -> list[CheckResult]:
    """Count every expectation over the rows of `layer` that a run wrote.

    `since` maps a table to its version before an incremental run: only the rows appended
    after it are checked (the batch this run validated); tables in `skip` (nothing new) are not
    checked again. Without it (a full refresh, a first
    build) whole tables are checked, key uniqueness included — that one needs every key, and
    an incremental run keeps keys unique by construction (its anti-join).
    """
    out: list[CheckResult] = []
    for model in load_models():
        if model.table.layer != layer or not store.exists(model.table) or model.table.fqn in (skip or ()):
            continue
        names = expectations_of(model)
        fqn = model.table.fqn
        before = (since or {}).get(fqn)
        key = model.options.get("key") if model.kind == "unique_key" and before is None else None
        doubles = _double_columns(store, model)
        if not names and not key and not doubles:
            continue
        if before is None:
            engine.bind_files(model.table)
        else:
            files, _ = store.added_files_since(model.table, before)
            root = store.path(model.table)
            engine.bind_files(model.table, [str(root / f) for f in files])
        if names:
            failing = dict(
                engine.con.execute(
                    f"SELECT issue, count(*) FROM (SELECT unnest(quality_issues) AS issue FROM {fqn} "
                    "WHERE NOT is_valid) GROUP BY issue"
                ).fetchall()
            )
            out += [CheckResult(fqn, n, failing.get(n, 0) == 0, int(failing.get(n, 0))) for n in names]
        if key:
            dupes = engine.scalar(f"SELECT count(*) - count(DISTINCT {key}) FROM {fqn}")
            out.append(CheckResult(fqn, f"{key}_unique", dupes == 0, dupes))
        if doubles:
            finite = " AND ".join(f"isfinite({_q(c)})" for c in doubles)
            bad = engine.scalar(f"SELECT count(*) FILTER (WHERE NOT ({finite})) FROM {fqn}")
            out.append(CheckResult(fqn, FINITE, bad == 0, bad))
    return out


def _double_columns(store: DeltaStore, model: Model) -> list[str]:
    schema = pa.schema(store.open(model.table).schema().to_arrow())
    return [f.name for f in schema if pa.types.is_floating(f.type)]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
