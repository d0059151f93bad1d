"""`Governance`: the catalog, access control, audit, lineage and SQL facade the API and CLI call.

Constructed with the settings and the lake's `DeltaStore`; the lead's `Lakehouse` exposes it as
`Lakehouse.governance`. Every data method takes the calling `Principal` and enforces its role,
so the rules hold the same whether the caller is HTTP, the CLI or a notebook.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from cachetools import LRUCache

from lakehouse.catalog.access import ANONYMOUS_ADMIN, KeyRing, Principal, Redactor
from lakehouse.catalog.audit import AuditLog
from lakehouse.catalog.lineage import ModelLineage
from lakehouse.catalog.models import CatalogEntry, QualityResult, Run
from lakehouse.catalog.store import AuditFilter, MetadataStore
from lakehouse.catalog.tables import describe, entry_dict, iso, quality_dict, run_dict, summary
from lakehouse.config import Settings
from lakehouse.contract import TableId, resolve, tables_in
from lakehouse.exceptions import InputError, LakehouseError, TableNotBuiltError, TableNotFoundError
from lakehouse.query.engine import QueryEngine, QueryResult
from lakehouse.query.safety import ParsedQuery, validate, validate_filter
from lakehouse.reports import RunReport
from lakehouse.results import JobResult
from lakehouse.storage.delta import DeltaStore, TableInfo

log = logging.getLogger(__name__)

V = TypeVar("V")

PREVIEW_MAX = 1000


# Validated statements by text, bounded by the text they hold (a parsed tree is ~20x its text).
_VALIDATED: LRUCache[str, ParsedQuery] = LRUCache(maxsize=2 * 1024 * 1024, getsizeof=lambda p: len(p.sql) + 200)
_VALIDATED_LOCK = threading.Lock()


def _validated(sql: str) -> ParsedQuery:
    with _VALIDATED_LOCK:
        hit = _VALIDATED.get(sql)
    if hit is None:
        hit = validate(sql)
        with _VALIDATED_LOCK:
            if len(sql) + 200 <= _VALIDATED.maxsize:
                _VALIDATED[sql] = hit
    return hit


_FILTERS: LRUCache[str, str] = LRUCache(maxsize=1024 * 1024, getsizeof=lambda f: 2 * len(f) + 100)


def _filter_sql(text: str) -> str:
    """`validate_filter`, memoised by text (bounded by the text held): a repeated preview filter
    is not parsed again."""
    with _VALIDATED_LOCK:
        hit = _FILTERS.get(text)
    if hit is None:
        hit = validate_filter(text)
        with _VALIDATED_LOCK:
            if 3 * len(text) + 100 <= _FILTERS.maxsize:
                _FILTERS[text] = hit
    return hit


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class Governance:
    def __init__(self, settings: Settings, store: DeltaStore, metadata: MetadataStore | None = None) -> None:
        self.settings = settings
        self.store = store
        self.metadata = metadata or MetadataStore.open(settings.metadata_dsn)
        self.keys = KeyRing(self.metadata, cache_s=settings.api.key_cache_s)
        self.audit = AuditLog(self.metadata)
        self._engine: QueryEngine | None = None
        self._lock = threading.Lock()
        self._entries: tuple[float, dict[str, CatalogEntry]] | None = None
        self._lineage: dict[str, ModelLineage] | None = None
        self._redactors: dict[str, Redactor] = {}

    @property
    def engine(self) -> QueryEngine:
        with self._lock:
            if self._engine is None:
                api = self.settings.api
                self._engine = QueryEngine(
                    self.settings, self.store, materialize_max_bytes=api.materialize_max_mb * 1024 * 1024,
                )
            return self._engine

    def close(self) -> None:
        self.audit.close()
        if self._engine is not None:
            self._engine.close()
        self.metadata.close()

    # -- health ------------------------------------------------------------------------------
    def health(self, who: Principal | None = None) -> dict[str, Any]:
        """Readiness. The lake's path and the metadata store's error text only for an admin
        (health is served without a key)."""
        admin = who is not None and who.role.is_admin
        checks: dict[str, dict[str, Any]] = {}
        base = self.settings.base_path
        checks["lake"] = {"ok": base.is_dir(), **({"path": str(base)} if admin else {})}
        try:
            self.metadata.ping()
            checks["metadata"] = {"ok": True, "backend": self.metadata.engine.dialect.name}
        except Exception as e:  # readiness reports any failure rather than raising it
            checks["metadata"] = {"ok": False, "backend": self.metadata.engine.dialect.name,
                                  "error": str(e)[:200] if admin else type(e).__name__}
        return {"status": "ok" if all(c["ok"] for c in checks.values()) else "unavailable", "checks": checks}

    # -- what a role may see --------------------------------------------------------------------
    def lake_paths(self) -> list[str]:
        s = self.settings
        paths = [s.base_path, s.landing, s.logs_path, s.archive_path, *(s.layer_path(x) for x in ("bronze", "silver", "gold"))]
        return sorted({str(p.resolve()) for p in paths} | {str(p) for p in paths if p.is_absolute()})

    def redactor(self, who: Principal) -> Redactor | None:
        """None for an admin (who sees everything)."""
        if who.role.is_admin:
            return None
        r = self._redactors.get(who.role.name)
        if r is None:
            r = self._redactors[who.role.name] = Redactor(who.role.layers, self.lake_paths())
        return r

    def path_redactor(self) -> Redactor:
        """Hides only the lake's paths (for error texts shown below admin)."""
        r = self._redactors.get("")
        if r is None:
            r = self._redactors[""] = Redactor(("bronze", "silver", "gold"), self.lake_paths())
        return r

    def _visible(self, who: Principal, value: V) -> V:
        r = self.redactor(who)
        return value if r is None else cast(V, r.json(value))

    def _resolve(self, name: str, who: Principal) -> TableId:
        """`resolve`, with close-match suggestions limited to tables the caller may read."""
        try:
            return resolve(name)
        except TableNotFoundError as e:
            raise TableNotFoundError(name, [x for x in e.suggestions if resolve(x).layer in who.role.layers]) from None

    # -- catalog entries (cached briefly: read on every masked preview) ----------------------
    def entry(self, fqn: str) -> CatalogEntry | None:
        now = time.monotonic()
        cached = self._entries
        if cached is None or now - cached[0] > 2.0:
            cached = (now, {e.table_fqn: e for e in self.metadata.entries()})
            self._entries = cached
        return cached[1].get(fqn)

    def pii(self, t: TableId) -> list[str]:
        e = self.entry(t.fqn)
        return list(e.pii_columns or []) if e else []

    def _mask(self, who: Principal, t: TableId) -> list[str] | None:
        return self.pii(t) if who.role.masks_pii else None

    # -- tables ---------------------------------------------------------------------------------
    def table(self, name: str, who: Principal) -> TableId:
        t = self._resolve(name, who)
        who.check_read(t)
        return t

    def info(self, t: TableId) -> TableInfo:
        if not self.store.exists(t):
            raise TableNotBuiltError(t.fqn)
        return self.store.info(t)

    def list_tables(self, who: Principal, layer: str | None = None) -> list[dict[str, Any]]:
        if layer is not None and layer not in ("bronze", "silver", "gold"):
            raise InputError(f"unknown layer '{layer}'", hint="one of bronze, silver, gold")
        out = []
        for t in tables_in(layer):
            if t.layer in who.role.layers and self.store.exists(t):
                out.append(summary(self.store.info(t)))
        return out

    def describe(self, name: str, who: Principal) -> dict[str, Any]:
        t = self.table(name, who)
        return self._visible(who, describe(self.info(t), self.entry(t.fqn), self.metadata.latest_quality(t.fqn)))

    def history(self, name: str, who: Principal, limit: int = 20) -> list[dict[str, Any]]:
        t = self.table(name, who)
        if not self.store.exists(t):
            raise TableNotBuiltError(t.fqn)
        return self._visible(who, [c.to_dict() for c in self.store.history(t, limit)])

    def preview(
        self, name: str, who: Principal, *, limit: int | None = None, columns: list[str] | None = None,
        where: str | None = None, version: int | None = None,
    ) -> QueryResult:
        t = self.table(name, who)
        limit = limit or self.settings.api.preview_default_limit
        if not 1 <= limit <= PREVIEW_MAX:
            raise InputError(f"limit must be between 1 and {PREVIEW_MAX}")
        if version is not None:
            current = self.engine.current(t)[0]
            if not 0 <= version <= current:
                raise InputError(f"version {version} of {t.fqn} does not exist", hint=f"versions 0..{current}")
        if columns:
            names = self.engine.schema(t).names
            missing = [c for c in columns if c not in names]
            if missing:
                raise InputError(f"unknown column(s) {', '.join(missing)} in {t.fqn}", hint=f"columns: {', '.join(names)}")
        cond = _filter_sql(where) if where else None  # allow-listed functions only, every role
        return self.engine.preview(
            t, limit=limit, timeout_s=self.settings.api.query_timeout_s, columns=columns,
            where=cond, version=version, mask=self._mask(who, t),
        )

    def query(self, sql: str, who: Principal, limit: int | None = None) -> QueryResult:
        who.check_query()
        try:
            parsed = _validated(sql)
        except TableNotFoundError as e:
            raise TableNotFoundError(e.name, [x for x in e.suggestions if resolve(x).layer in who.role.layers]) from None
        if not who.role.is_admin:
            parsed.check_functions()
        masks = {}
        for t in parsed.tables:
            who.check_read(t)
            if (m := self._mask(who, t)) is not None:
                masks[t] = m
        cap = min(limit or self.settings.api.query_max_rows, self.settings.api.query_max_rows)
        return self.engine.run(parsed, max_rows=cap, timeout_s=self.settings.api.query_timeout_s, masks=masks)

    # -- catalog ---------------------------------------------------------------------------------
    def search(
        self, who: Principal, q: str | None = None, layer: str | None = None,
        tag: str | None = None, owner: str | None = None,
    ) -> list[dict[str, Any]]:
        out = []
        for e in self.metadata.entries():
            t = resolve(e.table_fqn)
            if t.layer not in who.role.layers or (layer and t.layer != layer):
                continue
            if (tag and tag not in (e.tags or [])) or (owner and owner != e.owner):
                continue
            text = " ".join([e.table_fqn, e.description or "", *(e.column_descriptions or {}).values()]).lower()
            if q and q.lower() not in text:
                continue
            out.append({"table": e.table_fqn, "exists": self.store.exists(t), **entry_dict(e)})
        return self._visible(who, out)

    def update_entry(self, name: str, changes: dict[str, Any], who: Principal) -> dict[str, Any]:
        who.check_admin()
        t = resolve(name)
        entry = self.metadata.update_entry(t.fqn, changes)
        self._entries = None
        return {"table": t.fqn, **entry_dict(entry)}

    # -- lineage ---------------------------------------------------------------------------------
    def lineage_graph(self) -> dict[str, ModelLineage]:
        """Column lineage of every model, derived once per (model texts, input schemas).

        Deriving it parses 13 models with sqlglot (about a second); the result is cached in the
        lake (`_lineage_cache/<fingerprint>.json`) and the stored edges are only rewritten when
        the fingerprint changes.
        """
        if self._lineage is None:
            from lakehouse.catalog.lineage_cache import cached_lineage

            self._lineage = cached_lineage(self.settings, self.store, self.metadata)
        return self._lineage

    def lineage(self, name: str, who: Principal) -> dict[str, Any]:
        t = self.table(name, who)
        graph = self.lineage_graph()
        me = graph.get(t.fqn)
        return self._visible(who, {
            "table": t.fqn,
            "upstream": me.upstream if me else [],
            "downstream": sorted(fqn for fqn, ml in graph.items() if t.fqn in ml.upstream),
            "columns": [asdict(e) for e in me.columns] if me else [],
            "downstream_columns": sorted(
                (asdict(e) for ml in graph.values() for e in ml.columns if e.source == t.fqn),
                key=lambda d: (d["target"], d["target_column"], d["source_column"]),
            ),
            "runs": [run_dict(r) for r in self.metadata.runs_for_table(t.fqn)],
        })

    # -- runs, quality, audit ------------------------------------------------------------------
    def record_run(self, report: RunReport | JobResult) -> None:
        self.metadata.save_run(Run(
            run_id=report.run_id, job=report.job, status=report.status,
            started_at=_ts(report.started_at) or datetime.now(UTC), ended_at=_ts(report.ended_at),
            duration_s=report.duration_s, error=report.error,
            tables=[asdict(c) for c in report.tables], details=report.details,
        ))

    def emit_lineage(self, report: RunReport | JobResult) -> int:
        """Write the run's OpenLineage events; returns how many were sent. Never raises."""
        try:
            # Only jobs that wrote model outputs need the model graph (not ingestion).
            models = {m for m in (c.table for c in report.tables) if not m.startswith("bronze.")}
            graph = self.lineage_graph() if models else {}
            namespace = f"file://{self.settings.base_path.resolve()}"

            def facts(fqn: str) -> tuple[list[tuple[str, str]], int | None] | None:
                t = resolve(fqn)
                if not self.store.exists(t):
                    return None
                info = self.store.info(t)
                return [(f.name, str(f.type)) for f in info.schema], info.version

            from lakehouse.catalog.openlineage import build_events, make_client

            events = build_events(report, namespace, graph, facts)
            client = make_client(self.settings.logs_path, self.settings.openlineage_url)
            for ev in events:
                client.emit(ev)
            client.close(5.0)
            return len(events)
        except (LakehouseError, OSError, ValueError) as e:
            log.warning("OpenLineage events for run %s not sent: %s", report.run_id, e)
            return 0

    def runs(self, job: str | None = None, status: str | None = None, limit: int = 50,
             who: Principal = ANONYMOUS_ADMIN) -> list[dict[str, Any]]:
        """Recent runs; below admin, per-table figures only for readable tables, no paths."""
        return [self._visible(who, run_dict(r)) for r in self.metadata.runs(job=job, status=status, limit=limit)]

    def run(self, run_id: str, who: Principal = ANONYMOUS_ADMIN) -> dict[str, Any] | None:
        r = self.metadata.run(run_id)
        return self._visible(who, run_dict(r)) if r else None

    def record_quality(self, table: str, check: str, passed: bool, failing_rows: int = 0, run_id: str | None = None) -> None:
        self.metadata.add_quality([QualityResult(
            table_fqn=resolve(table).fqn, check_name=check, passed=passed,
            failing_rows=failing_rows, run_id=run_id, at=datetime.now(UTC),
        )])

    def quality(self, table: str) -> dict[str, Any] | None:
        return quality_dict(self.metadata.latest_quality(resolve(table).fqn))

    def audit_entries(self, who: Principal, f: AuditFilter) -> list[dict[str, Any]]:
        who.check_admin()
        self.audit.flush()
        return [
            {"id": a.id, "at": iso(a.at), "who": a.who, "role": a.role, "method": a.method,
             "endpoint": a.endpoint, "tables": a.tables, "query": a.query, "rows": a.rows,
             "duration_ms": a.duration_ms, "status": a.status}
            for a in self.metadata.audit(f)
        ]

    def freshness(self) -> dict[str, float]:
        """Seconds since epoch of each existing table's last commit (for the freshness gauge)."""
        out: dict[str, float] = {}
        for t in tables_in():
            if self.store.exists(t):
                ts = self.store.info(t).last_modified
                if ts:
                    out[t.fqn] = ts.timestamp()
        return out


__all__ = ["ANONYMOUS_ADMIN", "Governance"]
