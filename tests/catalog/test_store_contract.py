"""One contract, every backend (see conftest: SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from lakehouse.access import KeyRing
from lakehouse.contract import REGISTRY
from lakehouse.metadata.models import ApiKey, AuditEntry, QualityResult, Run
from lakehouse.metadata.store import AuditFilter, MetadataStore

KNOWN = tuple(REGISTRY.ids())


def test_migrations_create_every_table_and_are_idempotent(metadata: MetadataStore, metadata_dsn: str) -> None:
    names = set(sa.inspect(metadata.engine).get_table_names())
    assert {"catalog_entries", "lineage_edges", "runs", "quality_results", "api_keys", "audit", "alembic_version"} <= names
    again = MetadataStore.open(metadata_dsn)  # upgrade head twice, seeding twice: no duplicates
    assert len(again.entries()) == len(KNOWN)
    again.close()


def test_defaults_are_seeded_with_pii_tags(metadata: MetadataStore) -> None:
    users = metadata.entry("silver.users")
    assert users is not None and "email" in users.pii_columns and "pii" in users.tags
    assert metadata.entry("gold.user_segments").owner == "analytics"  # type: ignore[union-attr]


def test_catalog_edits_persist_and_merge_column_descriptions(metadata: MetadataStore, metadata_dsn: str) -> None:
    metadata.update_entry("gold.user_segments", {"column_descriptions": {"a": "first"}, "owner": "growth"})
    metadata.update_entry("gold.user_segments", {"column_descriptions": {"b": "second"}, "tags": ["kpi"]})
    reopened = MetadataStore.open(metadata_dsn)
    e = reopened.entry("gold.user_segments")
    reopened.close()
    assert e is not None and e.owner == "growth" and e.tags == ["kpi"]
    assert e.column_descriptions["a"] == "first" and e.column_descriptions["b"] == "second"
    with pytest.raises(ValueError, match="not editable"):
        metadata.update_entry("gold.user_segments", {"table_fqn": "x"})


def test_runs_roundtrip_and_filter_by_table(metadata: MetadataStore) -> None:
    t0 = datetime(2024, 5, 1, tzinfo=UTC)
    for i, job in enumerate(["transform.gold", "transform.silver", "transform.gold"]):
        metadata.save_run(Run(run_id=f"r{i}", job=job, status="success" if i else "failed",
                              started_at=t0 + timedelta(minutes=i), duration_s=1.5, details={"i": i},
                              tables=[{"table": "gold.user_segments" if job.endswith("gold") else "silver.users", "version_after": i}]))
    assert [r.run_id for r in metadata.runs(job="transform.gold")] == ["r2", "r0"]
    assert [r.run_id for r in metadata.runs(status="failed")] == ["r0"]
    assert [r.run_id for r in metadata.runs_for_table("gold.user_segments")] == ["r2", "r0"]
    got = metadata.run("r1")
    assert got is not None and got.details == {"i": 1} and got.started_at.replace(tzinfo=UTC) == t0 + timedelta(minutes=1)


def test_latest_quality_is_the_latest_run_that_checked_the_table(metadata: MetadataStore) -> None:
    now = datetime.now(UTC)
    metadata.add_quality([
        QualityResult(table_fqn="silver.users", check_name="not_null_email", passed=False, failing_rows=3, at=now, run_id="r1"),
        QualityResult(table_fqn="silver.users", check_name="unique_id", passed=True, failing_rows=0, at=now, run_id="r1"),
        QualityResult(table_fqn="gold.x", check_name="other", passed=True, failing_rows=0, at=now, run_id="r3"),
    ])
    metadata.add_quality([QualityResult(table_fqn="silver.users", check_name="not_null_email", passed=True,
                                        failing_rows=0, at=now, run_id="r2")])
    latest = metadata.latest_quality("silver.users")
    assert [(q.check_name, q.passed, q.run_id) for q in latest] == [("not_null_email", True, "r2")]
    runs = metadata.quality_runs("silver.users")
    assert [(r, [q.check_name for q in qs]) for r, qs in runs] == [("r2", ["not_null_email"]),
                                                                  ("r1", ["not_null_email", "unique_id"])]
    assert metadata.latest_quality("gold.nope") == []


def test_keys_hashed_verified_and_revoked(metadata: MetadataStore) -> None:
    ring = KeyRing(metadata, cache_s=0)
    new = ring.create("analyst", name="alice")
    stored = metadata.api_keys()
    assert [k.name for k in stored] == ["alice"] and new.token not in {k.key_hash for k in stored}
    who = ring.verify(new.token)
    assert who is not None and who.role.name == "analyst" and who.name == "alice"
    assert ring.verify(new.token + "x") is None
    assert ring.revoke(new.key_id) and not ring.revoke(new.key_id)
    assert ring.verify(new.token) is None
    with pytest.raises(sa.exc.IntegrityError):
        metadata.add_key(ApiKey(key_id="dup", name="d", role="reader", key_hash=stored[0].key_hash))


def test_audit_is_append_only_and_filterable(metadata: MetadataStore) -> None:
    at = datetime.now(UTC)
    metadata.append_audit([
        AuditEntry(at=at, who="alice", role="analyst", method="POST", endpoint="/query", tables=["gold.user_segments"],
                   query="SELECT 1", rows=1, duration_ms=2.5, status=200),
        AuditEntry(at=at, who="bob", role="reader", method="GET", endpoint="/tables/silver.users", tables=["silver.users"],
                   query=None, rows=None, duration_ms=1.0, status=403),
    ])
    assert [a.who for a in metadata.audit(AuditFilter(table="gold.user_segments"))] == ["alice"]
    assert [a.who for a in metadata.audit(AuditFilter(status=403))] == ["bob"]
    assert len(metadata.audit(AuditFilter(since=at - timedelta(seconds=1)))) == 2
    assert not hasattr(metadata, "delete_audit") and not hasattr(metadata, "update_audit")
