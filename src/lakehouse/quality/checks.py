"""Quality checks that run after each transform.

A silver model names its expectations inside its SQL (`THEN 'event_type_in_set' END` in the
`quality_issues` list); a row failing one keeps the name in `quality_issues` and
`is_valid = false`, so bad rows are flagged, never dropped. After a run every expectation is
counted over the rows the run wrote, plus a uniqueness check on each deduplicated table's key
on full builds, and the results go to the metadata store (shown by `GET /tables/{name}`).
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from lakehouse.pipeline.engines import DuckDBEngine
from lakehouse.pipeline.registry import Model, load_models
from lakehouse.pipeline.sql import quote
from lakehouse.results import CheckResult
from lakehouse.storage.base import TableStore


def expectations_of(model: Model) -> list[str]:
    """The names a model's SQL can put in `quality_issues` (the string results of its CASEs)."""
    tree = sqlglot.parse_one(model.sql, read="duckdb")
    names: set[str] = set()
    for select in tree.find_all(exp.Select):
        for alias in select.expressions:
            if alias.alias_or_name != "quality_issues":
                continue
            for case in alias.find_all(exp.Case):
                for when in case.args.get("ifs") or []:
                    value = when.args.get("true")
                    if isinstance(value, exp.Literal) and value.is_string:
                        names.add(value.this)
    if not names:  # the list is built in a subquery: look for it there
        for case in tree.find_all(exp.Case):
            parent = case.find_ancestor(exp.Alias)
            if parent is not None and parent.alias == "quality_issues":
                for when in case.args.get("ifs") or []:
                    value = when.args.get("true")
                    if isinstance(value, exp.Literal) and value.is_string:
                        names.add(value.this)
    return sorted(names)


def run_checks(
    engine: DuckDBEngine,
    store: TableStore,
    layer: str,
    since: dict[str, int | None] | None = None,
    skip: set[str] | None = None,
) -> list[CheckResult]:
    """Count every expectation over the rows of `layer` that a run wrote.

    `since` maps a table to its version before an incremental run: only the files written
    after it are checked (the batch this run validated); tables in `skip` (nothing new) are
    not checked again. Without it (a full refresh, a first build) whole tables are checked,
    key uniqueness included — that one needs every key, and an incremental run keeps keys
    unique by construction (its anti-join).
    """
    out: list[CheckResult] = []
    for model in load_models():
        fqn = model.table.fqn
        if model.table.layer != layer or not store.exists(model.table) or fqn in (skip or ()):
            continue
        names = expectations_of(model)
        before = (since or {}).get(fqn)
        key = model.model.key if model.kind == "unique_key" and before is None else None
        if not names and not key:
            continue
        if before is None:
            engine.bind_table(model.table)
        else:
            old = set(store.snapshot(model.table, before).paths)
            engine.bind_files(model.table, [p for p in store.snapshot(model.table).paths if p not in old])
        if names:
            failing = dict(
                engine.rows(
                    f"SELECT issue, count(*) FROM (SELECT unnest(quality_issues) AS issue FROM {fqn} "
                    "WHERE NOT is_valid) GROUP BY issue"
                )
            )
            out += [CheckResult(fqn, n, failing.get(n, 0) == 0, int(failing.get(n, 0))) for n in names]
        if key:
            dupes = int(engine.scalar(f"SELECT count(*) - count(DISTINCT {quote(key)}) FROM {fqn}") or 0)
            out.append(CheckResult(fqn, f"{key}_unique", dupes == 0, dupes))
    return out
