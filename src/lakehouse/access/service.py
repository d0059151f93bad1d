"""`AccessService`: who is calling, what they may see, and the audit trail of what they did.

Every data method of the other services takes the calling `Principal`; this service answers the
questions they share: may this caller read that table (and, when not, without telling it which
hidden tables exist), what must be taken out of a response below admin, and which PII columns a
role sees masked.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar, cast

from lakehouse.access.audit import AuditLog, AuditRecord
from lakehouse.access.keys import NOT_CACHED, KeyRing, NewKey
from lakehouse.access.redact import Redactor
from lakehouse.access.roles import ANONYMOUS_ADMIN, Principal
from lakehouse.catalog.tables import iso
from lakehouse.config import Settings
from lakehouse.contract import TableId, resolve
from lakehouse.exceptions import NotAuthenticatedError, TableNotFoundError
from lakehouse.metadata.models import ApiKey
from lakehouse.metadata.store import AuditFilter, MetadataStore

V = TypeVar("V")


class AccessService:
    def __init__(self, settings: Settings, metadata: Callable[[], MetadataStore]) -> None:
        self.settings = settings
        self._metadata = metadata
        self._keys: KeyRing | None = None
        self._audit: AuditLog | None = None
        self._redactors: dict[str, Redactor] = {}
        self._lock = threading.Lock()

    @property
    def keys(self) -> KeyRing:
        with self._lock:
            if self._keys is None:
                self._keys = KeyRing(self._metadata(), cache_s=self.settings.api.key_cache_s)
            return self._keys

    @property
    def audit(self) -> AuditLog:
        with self._lock:
            if self._audit is None:
                self._audit = AuditLog(self._metadata())
            return self._audit

    def close(self) -> None:
        if self._audit is not None:
            self._audit.close()

    # -- who is calling ---------------------------------------------------------------------
    @property
    def auth_enabled(self) -> bool:
        return self.settings.api.auth

    def cached_principal(self, token: str | None) -> Principal | None:
        """The caller answered from memory without touching the store, or None when the store
        must be asked (`authenticate`). Raises NotAuthenticatedError for a missing or known-bad key."""
        if not self.auth_enabled:
            return ANONYMOUS_ADMIN
        if not token:
            raise NotAuthenticatedError("missing API key", hint="send Authorization: Bearer <key> or X-API-Key")
        hit = self.keys.cached(token)
        if hit is NOT_CACHED:
            return None
        if hit is None:
            raise NotAuthenticatedError("invalid or revoked API key", hint="create one with `lakehouse keys create`")
        return hit

    def authenticate(self, token: str | None) -> Principal:
        """The caller for a presented key (or the anonymous admin when auth is off)."""
        cached = self.cached_principal(token)
        if cached is not None:
            return cached
        found = self.keys.verify(token or "")
        if found is None:
            raise NotAuthenticatedError("invalid or revoked API key", hint="create one with `lakehouse keys create`")
        return found

    # -- keys -----------------------------------------------------------------------------------
    def create_key(self, role: str, name: str | None = None) -> NewKey:
        return self.keys.create(role, name)

    def list_keys(self) -> list[ApiKey]:
        return self._metadata().api_keys()

    def revoke_key(self, key_id: str) -> bool:
        return self.keys.revoke(key_id)

    # -- what a caller may see ----------------------------------------------------------------
    def table(self, name: str, who: Principal) -> TableId:
        """Resolve a table name the caller may read (close matches only among readable tables)."""
        try:
            t = resolve(name)
        except TableNotFoundError as e:
            raise TableNotFoundError(name, self.readable(who, e.suggestions)) from None
        who.check_read(t)
        return t

    def readable(self, who: Principal, names: list[str]) -> list[str]:
        return [x for x in names if resolve(x).layer in who.role.layers]

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

    def visible(self, who: Principal, value: V) -> V:
        r = self.redactor(who)
        return value if r is None else cast(V, r.json(value))

    # -- audit -----------------------------------------------------------------------------------
    def record(self, rec: AuditRecord) -> None:
        self.audit.record(rec)

    def audit_entries(
        self, who: Principal, *, user: str | None = None, table: str | None = None, endpoint: str | None = None,
        status: int | None = None, since: datetime | None = None, until: datetime | None = None, limit: int = 100,
    ) -> list[dict[str, Any]]:
        who.check_admin()
        self.audit.flush()
        f = AuditFilter(who=user, table=table, endpoint=endpoint, status=status, since=since, until=until, limit=limit)
        return [
            {"id": a.id, "at": iso(a.at), "who": a.who, "role": a.role, "method": a.method,
             "endpoint": a.endpoint, "tables": a.tables, "query": a.query, "rows": a.rows,
             "duration_ms": a.duration_ms, "status": a.status}
            for a in self._metadata().audit(f)
        ]
