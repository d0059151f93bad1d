"""The model lineage graph, cached by a fingerprint of what it is derived from."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from pathlib import Path

from lakehouse.catalog.lineage import ColumnEdge, ModelLineage, model_lineage
from lakehouse.config import Settings
from lakehouse.contract import TableId
from lakehouse.metadata.store import MetadataStore
from lakehouse.storage.base import TableStore

log = logging.getLogger(__name__)


def _columns(store: TableStore, t: TableId) -> list[str] | None:
    # The schema from the Delta log (no file listing): cheap even for big tables.
    if not store.exists(t):
        return None
    return list(store.schema(t).names)


def cached_lineage(settings: Settings, store: TableStore, metadata: MetadataStore) -> dict[str, ModelLineage]:
    import importlib.metadata

    from lakehouse.pipeline.registry import load_models

    models = load_models()
    inputs = sorted({d for m in models for d in m.depends_on})
    schemas = {t.fqn: _columns(store, t) for t in inputs}
    basis = json.dumps(
        {"sqlglot": importlib.metadata.version("sqlglot"), "models": {m.table.fqn: m.sql for m in models}, "schemas": schemas},
        sort_keys=True,
    )
    fingerprint = hashlib.sha256(basis.encode()).hexdigest()[:24]
    path = settings.base_path / "_lineage_cache" / f"{fingerprint}.json"
    graph = _load(path)
    if graph is not None:
        return graph
    graph = {}
    for m in models:
        try:
            graph[m.table.fqn] = model_lineage(m.table, m.sql, lambda t: schemas.get(t.fqn))
        except Exception as e:
            log.warning("lineage of %s failed: %s", m.table.fqn, e)
            graph[m.table.fqn] = ModelLineage(m.table.fqn, [d.fqn for d in m.depends_on])
    edges: list[tuple[str, str | None, str, str | None]] = [
        (u, None, fqn, None) for fqn, ml in graph.items() for u in ml.upstream
    ]
    edges += [(e.source, e.source_column, e.target, e.target_column) for ml in graph.values() for e in ml.columns]
    metadata.replace_lineage(edges)
    _save(path, graph)
    return graph


def _load(path: Path) -> dict[str, ModelLineage] | None:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return {
        k: ModelLineage(v["table"], v["upstream"], [ColumnEdge(**c) for c in v["columns"]], v["untraced"])
        for k, v in raw.items()
    }


def _save(path: Path, graph: dict[str, ModelLineage]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({k: asdict(v) for k, v in graph.items()}))
        tmp.replace(path)
    except OSError as e:  # a read-only lake still serves lineage, just uncached
        log.info("lineage cache not written: %s", e)
