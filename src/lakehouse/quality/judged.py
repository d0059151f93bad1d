"""One check's verdict as it is built, the same whether its rows were staged or streamed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from lakehouse.contract.expectations import Completeness, Expectation
from lakehouse.results import Outcome

SAMPLE_ROWS = 5
SAMPLE_VALUE_CHARS = 200
SAMPLE_LIST_ITEMS = 20


@dataclass
class Judged:
    check: Expectation
    failing: int = 0
    checked: int = 0
    metric: float | None = None
    outcome: Outcome = "pass"
    threshold: str | None = None
    sample: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0


def by_thresholds(j: Judged) -> None:
    """The outcome of a count of failing rows, by the check's `fail_if` and `warn_if`."""
    fail, warn = j.check.fail_threshold, j.check.warn_threshold
    if fail is not None and fail.crossed(j.failing, j.checked):
        j.outcome, j.threshold = "fail", f"fail_if {fail}"
    elif warn is not None and warn.crossed(j.failing, j.checked):
        j.outcome, j.threshold = "warn", f"warn_if {warn}"
    else:
        j.threshold = f"fail_if {fail}" if fail is not None else f"warn_if {warn}" if warn is not None else None


def bad(j: Judged, threshold: str) -> None:
    """A measure outside its bound: fails when the check fails runs, else warns."""
    j.outcome = "fail" if j.check.action == "fail" or j.check.fail_if else "warn"
    j.threshold = threshold


def sample(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Failing rows as stored with a result: JSON values, long texts and lists cut short."""
    return [{k: _jsonable(v) for k, v in r.items()} for r in rows[:SAMPLE_ROWS]]


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float | int | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value[:SAMPLE_LIST_ITEMS]]  # cut before converting: lists can be long
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:SAMPLE_VALUE_CHARS]


def completeness(e: Completeness, pct: float, failing: int, j: Judged) -> None:
    """A completeness check: `pct` of the rows complete, `failing` not."""
    j.metric, j.failing = pct, failing
    if pct < e.min_pct:
        bad(j, f"min_pct {e.min_pct:g}")
    else:
        j.threshold = f"min_pct {e.min_pct:g}"
