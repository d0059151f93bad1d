"""Helpers shared by the tests (importable as `support`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from lakehouse.config import Settings
from lakehouse.results import TransformResult
from lakehouse.service import Lakehouse


def make_settings(root: Path, **overrides: Any) -> Settings:
    return Settings.under(root, **{"duckdb_threads": 2, **overrides})


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


def quality_of(result: TransformResult, table: str) -> dict[str, int]:
    """Failing rows per check of one table in a transform's result."""
    return {c.check: c.failing_rows for c in result.checks if c.table == table}


def by_source(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """An ingest report as JSON (`IngestResult.to_dict`, `--json`, the logs): source -> its part."""
    return {s["source"]: s for s in report["sources"]}


def rows(lh: Lakehouse, table: str, order_by: str | None = None) -> list[dict[str, Any]]:
    t = lh.store.dataset(table).to_table()
    if order_by:
        t = t.sort_by(order_by)
    return t.to_pylist()


def lake_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment for a `python -m lakehouse.cli.main ...` subprocess on the same lake."""
    import os

    env = dict(os.environ)
    env.update(
        LAKEHOUSE_BASE_PATH=str(settings.base_path),
        LAKEHOUSE_BRONZE_PATH=str(settings.layer_path("bronze")),
        LAKEHOUSE_SILVER_PATH=str(settings.layer_path("silver")),
        LAKEHOUSE_GOLD_PATH=str(settings.layer_path("gold")),
        LAKEHOUSE_LOGS_DIR=str(settings.logs_path),
        LAKEHOUSE_LANDING_PATH=str(settings.landing),
        LAKEHOUSE_METADATA_URL=settings.metadata_dsn,
        **extra,
    )
    return env


# The metadata store's backends: SQLite always, PostgreSQL at LAKEHOUSE_TEST_POSTGRES_URL (with
# LAKEHOUSE_REQUIRE_POSTGRES=1, as in CI, a missing or unreachable server fails instead of skipping).
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def backend_dsn(kind: str, tmp_path: Path) -> str:
    """A fresh, empty metadata store on `kind` (a SQLite file, or the test PostgreSQL reset)."""
    import os

    import sqlalchemy as sa

    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'metadata.db'}"
    url = os.environ.get("LAKEHOUSE_TEST_POSTGRES_URL")
    required = os.environ.get("LAKEHOUSE_REQUIRE_POSTGRES") == "1"
    if not url:
        if required:
            pytest.fail("LAKEHOUSE_REQUIRE_POSTGRES=1 but LAKEHOUSE_TEST_POSTGRES_URL is not set")
        pytest.skip("set LAKEHOUSE_TEST_POSTGRES_URL to run on PostgreSQL")
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
    except sa.exc.OperationalError as e:
        if required:
            pytest.fail(f"PostgreSQL required but unreachable at {url}: {e}")
        pytest.skip(f"PostgreSQL unreachable at {url}")
    finally:
        engine.dispose()
    return url


def die_after_quarantine_commit(monkeypatch: Any, table: str = "bronze.app_events") -> Callable[[], None]:
    """Make the next bronze commit to `table` die like a killed process; returns the undo."""
    from lakehouse.storage.delta import DeltaStore

    real_append = DeltaStore.append

    def dying_append(self: DeltaStore, target: object, *args: Any, **kwargs: Any) -> int:
        if str(target) == table:
            raise SystemExit("killed after the quarantine commit")
        return real_append(self, target, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(DeltaStore, "append", dying_append)
    return lambda: monkeypatch.setattr(DeltaStore, "append", real_append)


# Spark tests share one session per test run (the engine keeps one per process): the first
# engine made starts it with these settings, so every Spark test asks for them.
SPARK_TEST = {"master": "local[2]", "shuffle_partitions": 2, "driver_memory": "1g", "ui": False}


def spark_settings(root: Path, **overrides: Any) -> Settings:
    return make_settings(root, spark={**SPARK_TEST, **overrides.pop("spark", {})}, **overrides)


def require_spark() -> None:
    """Skip (or fail, with LAKEHOUSE_REQUIRE_SPARK=1 as in CI) when Spark cannot run here."""
    import os

    import pytest

    from lakehouse.exceptions import LakehouseError

    try:
        import delta  # noqa: F401
        import pyspark  # noqa: F401

        from lakehouse.pipeline.engines.spark_session import check_java

        check_java()
    except (ImportError, LakehouseError) as exc:
        message = f"Spark cannot run here: {exc}"
        if os.environ.get("LAKEHOUSE_REQUIRE_SPARK") == "1":
            pytest.fail(f"{message}; LAKEHOUSE_REQUIRE_SPARK=1", pytrace=False)
        pytest.skip(f"{message} — pip install 'lakehouse[spark]' and Java 17")
