"""Table names: `layer.table`, and the seed's names that resolve to the same tables.

`user_segments_gold`, `gold_user_segments` and `gold.user_segments` are one table.
The seed called the sessions table `clickstream_silver`; it resolves to
`silver.clickstream_sessions`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from lakehouse.exceptions import TableNotFoundError

LAYERS: tuple[str, ...] = ("bronze", "silver", "gold")


@dataclass(frozen=True, order=True)
class TableId:
    layer: str
    name: str

    @property
    def fqn(self) -> str:
        return f"{self.layer}.{self.name}"

    def __str__(self) -> str:
        return self.fqn


BRONZE_TABLES = ("app_events", "clickstream", "cdc_changes", "transactions", "service_logs", "quarantine")
SILVER_TABLES = (
    "app_events",
    "clicks",
    "clickstream_sessions",
    "users_cdc_state",
    "users",
    "transactions",
    "service_requests",
    "user_activity_daily",
)
GOLD_TABLES = ("event_metrics", "user_segments", "daily_summary", "hourly_metrics", "revenue_daily")

KNOWN: tuple[TableId, ...] = (
    *(TableId("bronze", n) for n in BRONZE_TABLES),
    *(TableId("silver", n) for n in SILVER_TABLES),
    *(TableId("gold", n) for n in GOLD_TABLES),
)

# Seed names whose table part differs from ours.
_SEED_RENAMES = {("silver", "clickstream"): TableId("silver", "clickstream_sessions")}


def _aliases() -> dict[str, TableId]:
    out: dict[str, TableId] = {}
    for t in KNOWN:
        out[t.fqn] = t
        out[f"{t.name}_{t.layer}"] = t
        out[f"{t.layer}_{t.name}"] = t
    for (layer, name), target in _SEED_RENAMES.items():
        out[f"{name}_{layer}"] = target
        out[f"{layer}_{name}"] = target
        out[f"{layer}.{name}"] = target
    return out


ALIASES: dict[str, TableId] = _aliases()


def resolve(name: str) -> TableId:
    """Resolve any accepted spelling of a table name, or raise with close matches."""
    key = name.strip().strip('"').lower()
    if key in ALIASES:
        return ALIASES[key]
    close = difflib.get_close_matches(key, [t.fqn for t in KNOWN], n=3, cutoff=0.5)
    if not close:
        close = [
            ALIASES[m].fqn for m in difflib.get_close_matches(key, list(ALIASES), n=3, cutoff=0.6)
        ]
    raise TableNotFoundError(name, sorted(set(close)))


def tables_in(layer: str | None = None) -> list[TableId]:
    return [t for t in KNOWN if layer is None or t.layer == layer]
