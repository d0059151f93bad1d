"""Bad records of every kind a real feed delivers, mixed into the clean stream, and counted.

Kinds, and where the lakehouse must put them:

| kind             | what                                           | lands in           |
|------------------|------------------------------------------------|--------------------|
| malformed_json   | a truncated line                               | bronze.quarantine  |
| missing_required | a required field removed                       | bronze.quarantine  |
| wrong_type       | a field with a value of the wrong type         | see WRONG_TYPE     |
| unknown_field    | fields the contract does not know              | bronze (_rescued_data) |
| duplicate        | a record sent again, later                     | bronze (silver dedups) |
| late             | event time 1–3 days before its neighbours      | bronze             |
| out_of_order     | a record moved behind later ones               | bronze             |
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from lakehouse.simulate.sources import JSON_COLUMNS, iso
from lakehouse.simulate.world import DAY_US

KINDS = ("malformed_json", "missing_required", "wrong_type", "unknown_field", "duplicate", "late", "out_of_order")
RAW_KINDS = ("malformed_json", "missing_required", "wrong_type", "unknown_field")

# (field, bad value, lands in quarantine?) — an optional field's bad value is rescued in bronze.
WRONG_TYPE: dict[str, tuple[str, object, bool]] = {
    "app_events": ("duration_ms", "slow", False),
    "clickstream": ("scroll_depth", "most of it", False),
    "cdc_changes": ("ts_ms", "yesterday", True),
    "transactions": ("amount", "12.50 USD", True),
    "service_logs": ("status_code", "OK", True),
}
MISSING: dict[str, str] = {
    "app_events": "user_id",
    "clickstream": "page_name",
    "cdc_changes": "op",
    "transactions": "transaction_id",
    "service_logs": "endpoint",
}


@dataclass
class Injected:
    """A source's stream after injection: records to write as rows, and raw bad lines."""

    rows: pa.Table  # clean rows (+ duplicates, late, out-of-order), in delivery order
    tail_from: int  # rows from here on are the delayed ones (late, out-of-order, duplicates)
    raw_lines: list[str]
    kinds: dict[str, int] = field(default_factory=dict)
    expected_quarantine: int = 0

    @property
    def records(self) -> int:
        return int(self.rows.num_rows) + len(self.raw_lines)


def _to_obj(row: dict[str, object], source: str) -> dict[str, object]:
    out = {k: v for k, v in row.items() if not k.startswith("_")}
    for c in JSON_COLUMNS.get(source, ()):
        if out.get(c) is not None:
            out[c] = json.loads(str(out[c]))
    return out


def inject(source: str, table: pa.Table, fraction: float, rng: np.random.Generator) -> Injected:
    n = table.num_rows
    per_kind = round(n * fraction / len(KINDS)) if fraction > 0 else 0
    counts = dict.fromkeys(KINDS, 0)
    if per_kind == 0 or n < 10 * len(KINDS):
        return Injected(rows=table, tail_from=n, raw_lines=[], kinds=counts)
    chosen = rng.choice(n, per_kind * 6, replace=False)  # six kinds take rows out of place
    groups = dict(zip(("malformed_json", "missing_required", "wrong_type", "unknown_field", "late", "out_of_order"),
                      np.split(chosen, 6), strict=True))
    raw: list[str] = []
    for kind in RAW_KINDS:
        for row in table.take(pa.array(groups[kind])).to_pylist():
            obj = _to_obj(row, source)
            if kind == "malformed_json":
                text = json.dumps(obj)
                raw.append(text[: max(1, len(text) // 2)])
            elif kind == "missing_required":
                obj.pop(MISSING[source], None)
                raw.append(json.dumps(obj))
            elif kind == "wrong_type":
                fname, value, _ = WRONG_TYPE[source]
                obj[fname] = value
                raw.append(json.dumps(obj))
            else:
                obj["debug_flag"] = True
                obj["client_build"] = {"sha": "9f2c1e", "channel": "beta"}
                raw.append(json.dumps(obj))
        counts[kind] = len(groups[kind])
    taken = np.zeros(n, dtype=bool)
    taken[chosen] = True
    keep = table.filter(pa.array(~taken))
    late = table.take(pa.array(groups["late"]))
    if "_t" in late.column_names:
        shifted = late.column("_t").to_numpy() - rng.integers(1, 4, late.num_rows) * DAY_US
        late = late.set_column(late.schema.get_field_index("timestamp"), "timestamp", iso(shifted))
        late = late.set_column(late.schema.get_field_index("_t"), "_t", pa.array(shifted))
    ooo = table.take(pa.array(groups["out_of_order"]))
    dup_idx = rng.choice(np.flatnonzero(~taken), per_kind, replace=False)
    dups = table.take(pa.array(dup_idx))
    counts.update(late=late.num_rows, out_of_order=ooo.num_rows, duplicate=dups.num_rows)
    rows = pa.concat_tables([keep, ooo, late, dups])
    quarantined = counts["malformed_json"] + counts["missing_required"]
    if WRONG_TYPE[source][2]:
        quarantined += counts["wrong_type"]
    return Injected(rows=rows, tail_from=keep.num_rows, raw_lines=raw, kinds=counts, expected_quarantine=quarantined)


def drop_private(table: pa.Table) -> pa.Table:
    return table.drop_columns([c for c in table.column_names if c.startswith("_")])


def split_rows(n: int, parts: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, n, parts + 1).astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges)]


__all__ = ["KINDS", "Injected", "drop_private", "inject", "split_rows"]
