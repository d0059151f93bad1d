"""Readiness: can the lake serve? Its folder is there and the metadata store answers.

Served without a key (`GET /health`), so the lake's path and the store's error text are shown
only to an admin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lakehouse.access import Principal
from lakehouse.config import Settings
from lakehouse.metadata.store import MetadataStore


def readiness(settings: Settings, metadata: Callable[[], MetadataStore], who: Principal | None) -> dict[str, Any]:
    admin = who is not None and who.role.is_admin
    checks: dict[str, dict[str, Any]] = {}
    base = settings.base_path
    checks["lake"] = {"ok": base.is_dir(), **({"path": str(base)} if admin else {})}
    backend = settings.metadata_dsn.split(":", 1)[0].split("+", 1)[0]
    try:
        store = metadata()
        store.ping()
        checks["metadata"] = {"ok": True, "backend": store.engine.dialect.name}
    except Exception as e:  # readiness reports any failure rather than raising it
        checks["metadata"] = {"ok": False, "backend": backend, "error": str(e)[:200] if admin else type(e).__name__}
    return {"status": "ok" if all(c["ok"] for c in checks.values()) else "unavailable", "checks": checks}
