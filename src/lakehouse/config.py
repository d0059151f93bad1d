"""Typed settings: the one place that reads the environment.

Environment variables use the prefix ``LAKEHOUSE_`` and ``__`` for nesting
(``LAKEHOUSE_KAFKA__BOOTSTRAP=host:9092``). The seed's unprefixed names
``BRONZE_PATH``, ``SILVER_PATH``, ``GOLD_PATH`` and ``LOGS_DIR`` are honoured too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SOURCES: tuple[str, ...] = ("app_events", "clickstream", "cdc_changes", "transactions", "service_logs")


class KafkaSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = "lakehouse."
    partitions: int = Field(default=3, ge=1)
    group_id: str = "lakehouse-bronze"
    batch_max_messages: int = Field(default=200_000, ge=1)
    batch_max_seconds: float = Field(default=5.0, gt=0)
    # A worker killed without leaving the group keeps its partitions this long (broker minimum 6 s).
    session_timeout_ms: int = Field(default=10_000, ge=6_000)
    commit_threads: int = Field(default=2, ge=1)  # sources parsed and committed in parallel

    def topic(self, source: str) -> str:
        return f"{self.topic_prefix}{source}"


class ApiSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = 8888
    auth: bool = True
    query_timeout_s: float = Field(default=10.0, gt=0)
    query_max_rows: int = Field(default=10_000, ge=1)
    preview_default_limit: int = Field(default=100, ge=1)
    pool_size: int = Field(default=8, ge=1)  # DuckDB connections serving queries
    materialize_max_mb: int = Field(default=64, ge=0)  # tables up to this size are served from memory
    result_cache_size: int = Field(default=256, ge=0)  # cached query results (per table versions)
    key_cache_s: float = Field(default=5.0, ge=0)  # how long a verified API key is trusted


class SparkSettings(BaseModel):
    """The Spark engine (`LAKEHOUSE_ENGINE=spark`): where it runs and how it is configured."""

    model_config = ConfigDict(extra="forbid")

    # local[*] (in this process), spark://host:7077 (standalone cluster) or sc://host:15002 (Spark Connect).
    master: str = "local[*]"
    app_name: str = "lakehouse"
    driver_memory: str = "2g"
    executor_memory: str | None = None
    shuffle_partitions: int = Field(default=16, ge=1)
    ui: bool = False
    # Any other Spark setting, passed through as is (LAKEHOUSE_SPARK__CONF='{"spark.executor.cores": "2"}').
    conf: dict[str, str] = Field(default_factory=dict)
    # Where the Delta jars resolved from Maven Central are cached (independent of any lake).
    jar_cache: Path = Field(default_factory=lambda: Path.home() / ".cache" / "lakehouse" / "spark")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LAKEHOUSE_", env_nested_delimiter="__", extra="forbid", populate_by_name=True
    )

    base_path: Path = Field(default=Path("lakehouse_data"))
    bronze_path: Path | None = Field(
        default=None, validation_alias=AliasChoices("LAKEHOUSE_BRONZE_PATH", "BRONZE_PATH", "bronze_path")
    )
    silver_path: Path | None = Field(
        default=None, validation_alias=AliasChoices("LAKEHOUSE_SILVER_PATH", "SILVER_PATH", "silver_path")
    )
    gold_path: Path | None = Field(
        default=None, validation_alias=AliasChoices("LAKEHOUSE_GOLD_PATH", "GOLD_PATH", "gold_path")
    )
    logs_dir: Path | None = Field(
        default=None, validation_alias=AliasChoices("LAKEHOUSE_LOGS_DIR", "LOGS_DIR", "logs_dir")
    )
    landing_path: Path | None = None
    metadata_url: str | None = None
    # OpenLineage events go to <logs>/openlineage.ndjson, and also here when set (Marquez, DataHub).
    openlineage_url: str | None = None
    # Ingestion reads landing files in chunks of this many bytes: memory is bounded by it,
    # not by the size of a file or of the landing zone.
    ingest_chunk_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    duckdb_threads: int | None = Field(default=None, ge=1)
    duckdb_memory_limit: str = "4GB"
    compression: Literal["snappy", "zstd", "gzip", "lz4", "uncompressed"] = "snappy"
    kafka: KafkaSettings = KafkaSettings()
    api: ApiSettings = ApiSettings()
    # The engine the transforms run on: embedded DuckDB, or Spark (the `spark` extra and Java 17).
    engine: Literal["duckdb", "spark"] = "duckdb"
    spark: SparkSettings = SparkSettings()

    @classmethod
    def under(cls, root: Path, **overrides: Any) -> Settings:
        """Every path explicitly under `root`, so an inherited environment (BRONZE_PATH, ...)
        cannot send part of the lake elsewhere: for tests, benchmarks and embedding."""
        paths: dict[str, Any] = {
            "base_path": root,
            "bronze_path": root / "bronze",
            "silver_path": root / "silver",
            "gold_path": root / "gold",
            "logs_dir": root / "logs",
            "landing_path": root / "landing",
            "metadata_url": f"sqlite:///{root / 'metadata.db'}",
        }
        return cls(**{**paths, **overrides})

    def layer_path(self, layer: str) -> Path:
        explicit = {"bronze": self.bronze_path, "silver": self.silver_path, "gold": self.gold_path}
        return explicit.get(layer) or self.base_path / layer

    @property
    def logs_path(self) -> Path:
        return self.logs_dir or self.base_path / "logs"

    @property
    def landing(self) -> Path:
        return self.landing_path or self.base_path / "landing"

    @property
    def archive_path(self) -> Path:
        return self.base_path / "archive"

    @property
    def metadata_dsn(self) -> str:
        return self.metadata_url or f"sqlite:///{(self.base_path / 'metadata.db').resolve()}"
