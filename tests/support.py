"""Helpers shared by the tests (importable as `support`)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lakehouse.config import Settings
from lakehouse.service import Lakehouse


def make_settings(root: Path, **overrides: Any) -> Settings:
    # Every path explicit, so the developer's environment (BRONZE_PATH, ...) cannot leak in.
    return Settings(
        base_path=root,
        bronze_path=root / "bronze",
        silver_path=root / "silver",
        gold_path=root / "gold",
        logs_dir=root / "logs",
        landing_path=root / "landing",
        metadata_url=f"sqlite:///{root / 'metadata.db'}",
        duckdb_threads=2,
        **overrides,
    )


def land(settings: Settings, source: str, name: str, records: Iterable[dict[str, Any] | str]) -> Path:
    """Write records (dicts, or raw lines as str) as one landing file, atomically."""
    folder = settings.landing / source
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    tmp = folder / f".{name}.tmp"
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    tmp.write_text("".join(line + "\n" for line in lines))
    tmp.replace(path)
    return path


def rows(lh: Lakehouse, table: str, order_by: str | None = None) -> list[dict[str, Any]]:
    t = lh.store.dataset(table).to_table()
    if order_by:
        t = t.sort_by(order_by)
    return t.to_pylist()
