"""The demo's summary of the lake: segment mix, latest days, hours by health, what was caught."""

from __future__ import annotations

from datetime import date

from lakehouse.config import Settings
from lakehouse.contract import resolve, tables_in
from lakehouse.pipeline.engines import DuckDBEngine
from lakehouse.results import DailyKpis, Summary
from lakehouse.storage.base import TableStore


def summarize(settings: Settings, store: TableStore) -> Summary:
    engine = DuckDBEngine(settings, store)
    try:
        out = Summary()
        names = {"gold.user_segments", "gold.daily_summary", "gold.hourly_metrics", "bronze.quarantine",
                 "bronze.app_events", "silver.app_events"}
        built = {t.fqn for t in tables_in() if t.fqn in names and store.exists(t)}
        for fqn in built:
            engine.bind_table(resolve(fqn))
        if "gold.user_segments" in built:
            out.segments = {str(seg): int(n) for seg, n in engine.rows(
                "SELECT segment, count(*) AS users FROM gold.user_segments GROUP BY 1 "
                "ORDER BY array_position(['VIP', 'Active', 'Regular', 'Inactive'], segment)"
            )}
        if "gold.daily_summary" in built:
            out.daily = [
                DailyKpis(d if isinstance(d, date) else date.fromisoformat(str(d)), int(u), int(nu), int(e), int(s), float(r))
                for d, u, nu, e, s, r in engine.rows(
                    "SELECT summary_date, daily_users, new_users, total_events, sessions, revenue "
                    "FROM gold.daily_summary ORDER BY summary_date DESC LIMIT 5"
                )
            ]
        if "gold.hourly_metrics" in built:
            out.health = {str(k): int(n) for k, n in engine.rows(
                "SELECT health_status, count(*) AS n FROM gold.hourly_metrics GROUP BY 1")}
        if "bronze.quarantine" in built:
            out.quarantined = int(engine.scalar("SELECT count(*) FROM bronze.quarantine") or 0)
        if {"bronze.app_events", "silver.app_events"} <= built:
            out.duplicates_removed = int(engine.scalar(
                "SELECT (SELECT count(*) FROM bronze.app_events) - (SELECT count(*) FROM silver.app_events)"
            ) or 0)
        return out
    finally:
        engine.close()
