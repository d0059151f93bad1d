"""`CatalogService`: what the lake holds and how it came to be — tables, catalog entries,
lineage, runs and quality results.

Table facts (schema, version, size) come from the Delta log; ownership, descriptions, tags,
lineage, runs and quality from the metadata store. Every read takes the calling `Principal`:
tables of layers it may not read are neither listed nor named (`AccessService.visible`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from lakehouse.access import ANONYMOUS_ADMIN, AccessService, Principal
from lakehouse.catalog.lineage import ModelLineage
from lakehouse.catalog.tables import describe, entry_dict, quality_dict, run_dict, summary
from lakehouse.config import Settings
from lakehouse.contract import LAYERS, TableId, resolve, tables_in
from lakehouse.exceptions import InputError, LakehouseError, TableNotBuiltError
from lakehouse.metadata.models import CatalogEntry, QualityResult, Run
from lakehouse.metadata.store import MetadataStore
from lakehouse.reports import RunReport
from lakehouse.results import CheckResult, JobResult, TableInfo
from lakehouse.storage.base import TableStore

log = logging.getLogger(__name__)

ENTRY_CACHE_S = 2.0  # catalog entries are read on every masked preview


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class CatalogService:
    def __init__(
        self, settings: Settings, store: TableStore, metadata: Callable[[], MetadataStore], access: AccessService
    ) -> None:
        self.settings = settings
        self.store = store
        self._metadata = metadata
        self.access = access
        self._entries: tuple[float, dict[str, CatalogEntry]] | None = None
        self._lineage: dict[str, ModelLineage] | None = None

    @property
    def metadata(self) -> MetadataStore:
        return self._metadata()

    # -- catalog entries ------------------------------------------------------------------------
    def entry(self, fqn: str) -> CatalogEntry | None:
        now = time.monotonic()
        cached = self._entries
        if cached is None or now - cached[0] > ENTRY_CACHE_S:
            cached = (now, {e.table_fqn: e for e in self.metadata.entries()})
            self._entries = cached
        return cached[1].get(fqn)

    def pii(self, t: TableId) -> list[str]:
        e = self.entry(t.fqn)
        return list(e.pii_columns or []) if e else []

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
        return self.access.visible(who, out)

    def update_entry(self, name: str, changes: dict[str, Any], who: Principal) -> dict[str, Any]:
        who.check_admin()
        t = resolve(name)
        entry = self.metadata.update_entry(t.fqn, changes)
        self._entries = None
        return {"table": t.fqn, **entry_dict(entry)}

    # -- tables ---------------------------------------------------------------------------------
    def info(self, t: TableId) -> TableInfo:
        if not self.store.exists(t):
            raise TableNotBuiltError(t.fqn)
        return self.store.info(t)

    def list_tables(self, who: Principal, layer: str | None = None) -> list[dict[str, Any]]:
        if layer is not None and layer not in LAYERS:
            raise InputError(f"unknown layer '{layer}'", hint="one of bronze, silver, gold")
        return [summary(self.store.info(t)) for t in tables_in(layer)
                if t.layer in who.role.layers and self.store.exists(t)]

    def describe(self, name: str, who: Principal) -> dict[str, Any]:
        t = self.access.table(name, who)
        body = describe(self.info(t), self.entry(t.fqn), self.metadata.latest_quality(t.fqn))
        return self.access.visible(who, body)

    def history(self, name: str, who: Principal, limit: int = 20) -> list[dict[str, Any]]:
        t = self.access.table(name, who)
        if not self.store.exists(t):
            raise TableNotBuiltError(t.fqn)
        return self.access.visible(who, [c.to_dict() for c in self.store.history(t, limit)])

    def freshness(self, who: Principal = ANONYMOUS_ADMIN) -> dict[str, float]:
        """Seconds since epoch of each readable table's last commit (for the freshness gauge)."""
        out: dict[str, float] = {}
        for t in tables_in():
            if t.layer in who.role.layers and self.store.exists(t):
                ts = self.store.info(t).last_modified
                if ts:
                    out[t.fqn] = ts.timestamp()
        return out

    # -- lineage ----------------------------------------------------------------------------------
    def lineage_graph(self) -> dict[str, ModelLineage]:
        """Column lineage of every model, derived once per (model texts, input schemas).

        Deriving it parses every model with sqlglot (about a second); the result is cached in the
        lake (`_lineage_cache/<fingerprint>.json`) and the stored edges are only rewritten when
        the fingerprint changes.
        """
        if self._lineage is None:
            from lakehouse.catalog.lineage_cache import cached_lineage

            self._lineage = cached_lineage(self.settings, self.store, self.metadata)
        return self._lineage

    def lineage(self, name: str, who: Principal) -> dict[str, Any]:
        t = self.access.table(name, who)
        graph = self.lineage_graph()
        me = graph.get(t.fqn)
        return self.access.visible(who, {
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

    # -- runs -------------------------------------------------------------------------------------
    def record(self, report: RunReport | JobResult) -> None:
        """Store a finished job: the run, its quality results, and its OpenLineage events."""
        self.record_run(report)
        checks: list[CheckResult] = list(getattr(report, "checks", []))
        if checks:
            self.record_checks(checks)
        self.emit_lineage(report)

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

    def runs(self, who: Principal = ANONYMOUS_ADMIN, *, job: str | None = None, status: str | None = None,
             limit: int = 50) -> list[dict[str, Any]]:
        """Recent runs; below admin, per-table figures only for readable tables, no paths."""
        return [self.access.visible(who, run_dict(r)) for r in self.metadata.runs(job=job, status=status, limit=limit)]

    def run(self, run_id: str, who: Principal = ANONYMOUS_ADMIN) -> dict[str, Any] | None:
        r = self.metadata.run(run_id)
        return self.access.visible(who, run_dict(r)) if r else None

    # -- quality -----------------------------------------------------------------------------------
    def record_checks(self, checks: list[CheckResult]) -> None:
        now = datetime.now(UTC)
        self.metadata.add_quality([
            QualityResult(
                table_fqn=c.table, check_name=c.check, passed=c.passed, failing_rows=c.failing_rows,
                run_id=c.run_id, at=now, kind=c.kind, action=c.action, outcome=c.outcome,
                rows_checked=c.rows_checked, metric=c.metric, threshold=c.threshold, sample=c.sample,
                error=c.error, table_version=c.table_version, seconds=c.seconds,
            )
            for c in checks
        ])

    def quality(self, table: str, who: Principal = ANONYMOUS_ADMIN) -> dict[str, Any] | None:
        """A table's latest quality verdict: status, score and every check, with failing-row samples."""
        t = self.access.table(table, who)
        return self.access.visible(who, quality_dict(self.metadata.latest_quality(t.fqn)))

    def quality_history(self, table: str, who: Principal = ANONYMOUS_ADMIN, *, runs: int = 20,
                        check: str | None = None) -> list[dict[str, Any]]:
        """The table's verdicts over its last `runs` checked runs, newest first (for trends)."""
        t = self.access.table(table, who)
        out = []
        for _run_id, results in self.metadata.quality_runs(t.fqn, limit=runs):
            chosen = [r for r in results if check is None or r.check_name == check]
            if chosen:
                body = quality_dict(chosen, sample=False)
                if body is not None:
                    out.append(body)
        return self.access.visible(who, out)

    def quality_overview(self, who: Principal = ANONYMOUS_ADMIN, layer: str | None = None) -> list[dict[str, Any]]:
        """Every readable table's latest verdict (status, score, counts of each outcome)."""
        out = []
        for t in tables_in(layer):
            if t.layer not in who.role.layers:
                continue
            results = self.metadata.latest_quality(t.fqn)
            if not results:
                continue
            counts = {k: sum(1 for r in results if r.outcome == k) for k in ("pass", "warn", "fail", "error")}
            verdict = quality_dict(results, sample=False) or {}
            out.append({"table": t.fqn, "status": verdict["status"], "score": verdict["score"],
                        "run_id": verdict["run_id"], "at": verdict["at"], "checks": counts})
        return self.access.visible(who, out)
