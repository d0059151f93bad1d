"""Each table's windows: the monitoring defaults, overridden per table or per `layer.*` pattern.

Overrides apply from the least to the most specific (patterns by length, then exact names),
field by field and threshold by threshold (`Window.over`). A name that is not a table, a
pattern that matches none, or a `time_column` the table does not declare is a `ConfigError`
when the monitor is built, not a silent no-op.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import ValidationError

from lakehouse.config import MonitoringSettings, TableMonitoring, Window
from lakehouse.contract import REGISTRY, TableSpec
from lakehouse.exceptions import ConfigError, TableNotFoundError

WINDOWS = ("staleness", "data_lag", "delay", "delay_versions", "nulls_pct", "growth")


@dataclass(frozen=True)
class TableWindows:
    staleness: Window
    data_lag: Window
    delay: Window
    delay_versions: Window
    nulls_pct: Window
    growth: Window
    time_column: str | None
    alerts: bool


def _is_pattern(key: str) -> bool:
    return any(ch in key for ch in "*?[")


def _targets(key: str, fqns: list[str]) -> list[str]:
    if _is_pattern(key):
        known = sorted({*fqns, *(t.fqn for t in REGISTRY.ids())})
        hits = fnmatch.filter(known, key.lower())
        if not hits:
            raise ConfigError(f"monitoring.tables: '{key}' matches no table", hint="patterns look like 'gold.*'")
        return [h for h in hits if h in fqns]
    if key in fqns:
        return [key]
    try:
        fqn = REGISTRY.resolve(key).fqn
    except TableNotFoundError as exc:
        raise ConfigError(f"monitoring.tables: unknown table '{key}'", hint=exc.hint) from None
    return [fqn] if fqn in fqns else []


def table_windows(m: MonitoringSettings, specs: Iterable[TableSpec]) -> dict[str, TableWindows]:
    by_fqn = {s.fqn: s for s in specs}
    fqns = list(by_fqn)
    keys = sorted(m.tables, key=lambda k: (not _is_pattern(k), len(k)))
    applied: dict[str, list[tuple[str, TableMonitoring]]] = {f: [] for f in fqns}
    for key in keys:
        for fqn in _targets(key, fqns):
            applied[fqn].append((key, m.tables[key]))
    out: dict[str, TableWindows] = {}
    for fqn, overrides in applied.items():
        spec = by_fqn[fqn]
        windows: dict[str, Window] = {w: getattr(m, w) for w in WINDOWS}
        time_column = spec.time_column or spec.retention_column
        alerts = True
        for key, o in overrides:
            for w in WINDOWS:
                given: Window | None = getattr(o, w)
                if given is not None:
                    try:
                        windows[w] = given.over(windows[w])
                    except ValidationError as exc:
                        why = exc.errors()[0]["msg"].removeprefix("Value error, ")
                        raise ConfigError(f"monitoring.tables['{key}'].{w} for {fqn}: {why}",
                                          hint="set both warn and fail") from None
            if o.time_column is not None:
                if o.time_column not in spec.column_names:
                    raise ConfigError(
                        f"monitoring.tables: {fqn} has no column '{o.time_column}'",
                        hint=f"its columns: {', '.join(spec.column_names)}",
                    )
                time_column = o.time_column
            if "alerts" in o.model_fields_set:
                alerts = o.alerts
        out[fqn] = TableWindows(**windows, time_column=time_column, alerts=alerts)
    return out


def job_window(m: MonitoringSettings, job: str) -> Window:
    given = m.jobs.get(job)
    return given.over(m.job_age) if given is not None else m.job_age
