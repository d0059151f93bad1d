"""Catalog entries seeded on first open: owners, descriptions, retention, PII tags.

Edits made later through `PATCH /catalog/{table}` win: seeding only adds missing tables.
"""

from __future__ import annotations

from lakehouse.catalog.models import CatalogEntry
from lakehouse.storage.names import KNOWN

_OWNERS = {"bronze": "data-platform", "silver": "data-engineering", "gold": "analytics"}
_RETENTION = {"bronze": 90, "silver": 365, "gold": None}

_DESCRIPTIONS = {
    "bronze.app_events": "Raw application events as received, with ingestion metadata.",
    "bronze.clickstream": "Raw clickstream page views as received.",
    "bronze.cdc_changes": "Raw change-data-capture records of the source users table.",
    "bronze.transactions": "Raw payment transactions as received.",
    "bronze.service_logs": "Raw service request logs as received.",
    "bronze.quarantine": "Records that could not be parsed, with raw payload, source and reason.",
    "silver.app_events": "Application events deduplicated by event_id, typed and validated.",
    "silver.clicks": "Clickstream page views deduplicated and typed.",
    "silver.clickstream_sessions": "Sessions per user split by a 30-minute inactivity gap.",
    "silver.users_cdc_state": "Current state of the source users table, from CDC (MERGE).",
    "silver.users": "Current users with engagement facts from events.",
    "silver.transactions": "Transactions deduplicated and typed.",
    "silver.service_requests": "Service requests deduplicated and typed.",
    "silver.user_activity_daily": "Per user and day activity counts.",
    "gold.event_metrics": "Events per hour, event type and app type, with unique users.",
    "gold.user_segments": "Per-user engagement score (0-100) and segment.",
    "gold.daily_summary": "Daily KPIs across all sources.",
    "gold.hourly_metrics": "Hourly operational KPIs.",
    "gold.revenue_daily": "Daily revenue by currency and status.",
}

_PII: dict[str, list[str]] = {
    "silver.users": ["email", "name", "phone", "address"],
    "silver.users_cdc_state": ["email", "name", "phone", "address"],
    "bronze.cdc_changes": ["email", "name", "phone", "address"],
}

_COLUMNS: dict[str, dict[str, str]] = {
    "silver.users": {"email": "User e-mail address (PII).", "is_active": "Seen in the last 30 days."},
    "gold.user_segments": {
        "engagement_score": "0-100 score from activity recency, frequency and breadth.",
        "segment": "Engagement segment derived from engagement_score.",
    },
    "gold.event_metrics": {"events_per_user": "total_events / unique_users."},
}


def default_entries() -> list[CatalogEntry]:
    out = []
    for t in KNOWN:
        pii = _PII.get(t.fqn, [])
        out.append(
            CatalogEntry(
                table_fqn=t.fqn,
                owner=_OWNERS[t.layer],
                description=_DESCRIPTIONS.get(t.fqn, ""),
                tags=[t.layer, *(["pii"] if pii else [])],
                retention_days=_RETENTION[t.layer],
                pii_columns=pii,
                column_descriptions=_COLUMNS.get(t.fqn, {}),
            )
        )
    return out
