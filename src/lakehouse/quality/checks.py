"""Quality checks that run after each transform.

A silver model names its expectations inside its SQL (`THEN 'event_type_in_set' END` in the
`quality_issues` list); a row failing one keeps the name in `quality_issues` and
`is_valid = false`, so bad rows are flagged, never dropped. After a run every expectation is
counted over the whole table, plus a uniqueness check on each deduplicated table's key, and
the results go to the metadata store (shown by `GET /tables/{name}`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lakehouse.pipeline.engine import Engine
from lakehouse.pipeline.registry import Model, load_models
from lakehouse.storage.delta import DeltaStore

_EXPECTATION = re.compile(r"THEN\s+'([a-z0-9_]+)'\s+END", re.IGNORECASE)


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


def run_checks(engine: Engine, store: DeltaStore, layer: str, *, full: bool = True) -> list[CheckResult]:
    """Count every expectation over each table of `layer`.

    Key uniqueness needs every key of the table, so it is checked when `full` (a full
    refresh, or the first build); an incremental run keeps keys unique by construction
    (its anti-join), and re-counting 10M keys each run would cost more than the run.
    """
    out: list[CheckResult] = []
    for model in load_models():
        if model.table.layer != layer or not store.exists(model.table):
            continue
        names = expectations_of(model)
        key = model.options.get("key") if model.kind == "unique_key" and full else None
        if not names and not key:
            continue
        engine.bind_files(model.table)
        fqn = model.table.fqn
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
    return out
