"""The metadata store: one class over SQLite (default) or PostgreSQL, same behaviour on both.

`MetadataStore.open(dsn)` runs the packaged Alembic migrations to head, then seeds the
default catalog entries once. Objects returned are detached snapshots (safe across threads).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, String, cast, create_engine, delete, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import NullPool

from lakehouse.metadata.defaults import default_entries
from lakehouse.metadata.models import (
    ApiKey,
    AuditEntry,
    CatalogEntry,
    LineageEdge,
    QualityResult,
    Run,
)

log = logging.getLogger(__name__)

EDITABLE = ("owner", "description", "tags", "retention_days", "pii_columns", "column_descriptions")


@dataclass(frozen=True)
class AuditFilter:
    who: str | None = None
    table: str | None = None
    endpoint: str | None = None
    status: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_manual_transactions(dbapi_conn: Any, record: Any) -> None:
    _sqlite_pragmas(dbapi_conn, record)
    dbapi_conn.isolation_level = None  # SQLAlchemy's "begin" event emits BEGIN itself


_MIGRATING = threading.Lock()


class MetadataStore:
    """Catalog entries, lineage edges, runs, quality results, API keys and the audit trail."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._session = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, dsn: str) -> MetadataStore:
        url = make_url(dsn)
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            from pathlib import Path

            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, pool_pre_ping=url.get_backend_name() != "sqlite")
        if url.get_backend_name() == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        store = cls(engine)
        store.migrate()
        store.seed_defaults()
        return store

    def migrate(self) -> None:
        """Upgrade to the latest Alembic revision; a no-op (and cheap) when already there.

        Atomic on every backend: on SQLite the migration runs in one `BEGIN IMMEDIATE`
        transaction on a connection of its own (pysqlite otherwise commits each CREATE TABLE as
        it goes, so a process killed mid-migration left tables without the revision stamp, and
        every later open failed with "table already exists"); IMMEDIATE also makes a second
        process opening the same new file wait, then see the revision, instead of racing.
        """
        cfg = Config()
        cfg.set_main_option("script_location", str(resources.files("lakehouse.metadata") / "migrations"))
        head = ScriptDirectory.from_config(cfg).get_current_head()
        with self.engine.connect() as conn:  # the common case, without taking a write lock
            if MigrationContext.configure(conn).get_current_revision() == head:
                return
        # Alembic's migration context is process-global: one migration at a time per process.
        with _MIGRATING:
            self._upgrade(cfg, head)

    def _upgrade(self, cfg: Config, head: str | None) -> None:
        engine, own = self.engine, False
        url = engine.url
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            engine, own = create_engine(url, poolclass=NullPool), True
            event.listen(engine, "connect", _sqlite_manual_transactions)
            event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        try:
            with engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    # Another process migrating the same database waits here, then sees the head.
                    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727274)")
                if MigrationContext.configure(conn).get_current_revision() == head:
                    return  # another process migrated while this one waited for the lock
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        finally:
            if own:
                engine.dispose()

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(select(1))

    def close(self) -> None:
        self.engine.dispose()

    # -- catalog --------------------------------------------------------------------------
    def seed_defaults(self) -> None:
        """Add the contract's entries for tables the catalog does not know yet (edits stay)."""
        for _attempt in range(3):
            try:
                with self._session.begin() as s:
                    have = set(s.scalars(select(CatalogEntry.table_fqn)))
                    for entry in default_entries():
                        if entry.table_fqn not in have:
                            s.add(entry)
                return
            except IntegrityError:  # another process seeded the same entries first: look again
                continue

    def entry(self, fqn: str) -> CatalogEntry | None:
        with self._session() as s:
            return s.get(CatalogEntry, fqn)

    def entries(self) -> list[CatalogEntry]:
        with self._session() as s:
            return list(s.scalars(select(CatalogEntry).order_by(CatalogEntry.table_fqn)))

    def update_entry(self, fqn: str, changes: dict[str, Any]) -> CatalogEntry:
        unknown = set(changes) - set(EDITABLE)
        if unknown:
            raise ValueError(f"not editable: {sorted(unknown)}")
        with self._session.begin() as s:
            row = s.get(CatalogEntry, fqn)
            if row is None:
                row = CatalogEntry(table_fqn=fqn, tags=[], pii_columns=[], column_descriptions={})
                s.add(row)
            for key, value in changes.items():
                if key in ("column_descriptions", "tags", "pii_columns") and value is None:
                    value = {} if key == "column_descriptions" else []  # null clears, like owner: null
                elif key == "column_descriptions":
                    value = {**(row.column_descriptions or {}), **value}
                setattr(row, key, value)
            row.updated_at = datetime.now(UTC)
        return row

    # -- lineage --------------------------------------------------------------------------
    def replace_lineage(self, edges: Iterable[tuple[str, str | None, str, str | None]]) -> int:
        rows = [LineageEdge(source_table=a, source_column=b, target_table=c, target_column=d) for a, b, c, d in edges]
        with self._session.begin() as s:
            s.execute(delete(LineageEdge))
            s.add_all(rows)
        return len(rows)

    def lineage_edges(self) -> list[LineageEdge]:
        with self._session() as s:
            return list(s.scalars(select(LineageEdge).order_by(LineageEdge.id)))

    # -- runs -------------------------------------------------------------------------------
    def save_run(self, run: Run) -> None:
        with self._session.begin() as s:
            s.merge(run)

    def run(self, run_id: str) -> Run | None:
        with self._session() as s:
            return s.get(Run, run_id)

    def runs(self, *, job: str | None = None, status: str | None = None, limit: int = 50) -> list[Run]:
        q = select(Run).order_by(Run.started_at.desc()).limit(limit)
        if job:
            q = q.where(Run.job == job)
        if status:
            q = q.where(Run.status == status)
        with self._session() as s:
            return list(s.scalars(q))

    def runs_for_table(self, fqn: str, limit: int = 20) -> list[Run]:
        """Runs whose report names the table (the runs that produced its versions)."""
        q = (
            select(Run)
            .where(cast(Run.tables, String).contains(f'"{fqn}"'))
            .order_by(Run.started_at.desc())
            .limit(limit)
        )
        with self._session() as s:
            return list(s.scalars(q))

    # -- quality ----------------------------------------------------------------------------
    def add_quality(self, results: Sequence[QualityResult]) -> None:
        with self._session.begin() as s:
            s.add_all(results)

    def latest_quality(self, fqn: str) -> list[QualityResult]:
        """The results of the latest run that checked the table (its current batch's verdict)."""
        runs = self.quality_runs(fqn, limit=1)
        return runs[0][1] if runs else []

    def quality_runs(self, fqn: str, limit: int = 20) -> list[tuple[str | None, list[QualityResult]]]:
        """The last `limit` runs that checked a table, newest first, each with its results."""
        with self._session() as s:
            newest = list(s.execute(
                select(QualityResult.run_id, func.max(QualityResult.id).label("mid"))
                .where(QualityResult.table_fqn == fqn)
                .group_by(QualityResult.run_id)
                .order_by(func.max(QualityResult.id).desc())
                .limit(limit)
            ))
            out: list[tuple[str | None, list[QualityResult]]] = []
            for run_id, _ in newest:
                cond = QualityResult.run_id.is_(None) if run_id is None else QualityResult.run_id == run_id
                rows = list(s.scalars(select(QualityResult).where(QualityResult.table_fqn == fqn, cond)
                                      .order_by(QualityResult.id)))
                out.append((run_id, rows))
            return out

    # -- api keys ---------------------------------------------------------------------------
    def add_key(self, key: ApiKey) -> None:
        with self._session.begin() as s:
            s.add(key)

    def key_by_hash(self, key_hash: str) -> ApiKey | None:
        with self._session() as s:
            return s.scalars(select(ApiKey).where(ApiKey.key_hash == key_hash)).first()

    def api_keys(self) -> list[ApiKey]:
        with self._session() as s:
            return list(s.scalars(select(ApiKey).order_by(ApiKey.created_at)))

    def revoke_key(self, key_id: str) -> bool:
        with self._session.begin() as s:
            row = s.get(ApiKey, key_id)
            if row is None or row.revoked_at is not None:
                return False
            row.revoked_at = datetime.now(UTC)
            return True

    # -- audit (append-only: there is no update or delete) ----------------------------------------
    def append_audit(self, entries: Sequence[AuditEntry]) -> None:
        if entries:
            with self._session.begin() as s:
                s.add_all(entries)

    def audit(self, f: AuditFilter) -> list[AuditEntry]:
        q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(f.limit)
        if f.who:
            q = q.where(AuditEntry.who == f.who)
        if f.endpoint:
            q = q.where(AuditEntry.endpoint.contains(f.endpoint))
        if f.status is not None:
            q = q.where(AuditEntry.status == f.status)
        if f.since:
            q = q.where(AuditEntry.at >= f.since)
        if f.until:
            q = q.where(AuditEntry.at <= f.until)
        if f.table:  # JSON operators differ per backend; the serialised list is portable
            q = q.where(cast(AuditEntry.tables, String).contains(f'"{f.table}"'))
        with self._session() as s:
            return list(s.scalars(q))
