"""Typed settings: the one place that reads the environment.

Environment variables use the prefix ``LAKEHOUSE_`` and ``__`` for nesting
(``LAKEHOUSE_KAFKA__BOOTSTRAP=host:9092``). The seed's unprefixed names
``BRONZE_PATH``, ``SILVER_PATH``, ``GOLD_PATH`` and ``LOGS_DIR`` are honoured too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lakehouse.exceptions import ConfigError

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
    # A partition that no longer continues from bronze's offset (re-created topic, reset broker,
    # retention) fails the run; False restarts it at its oldest message and records the skip.
    fail_on_data_loss: bool = True
    create_topics: bool = False  # ingest creates requested topics that do not exist

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
    pool_size: int = Field(default=8, ge=1)  # threads serving the blocking part of requests
    materialize_max_mb: int = Field(default=64, ge=0)  # tables up to this size are served from memory
    result_cache_mb: int = Field(default=64, ge=0)  # cached query results, in bytes (per table versions)
    result_max_mb: float = Field(default=16, gt=0)  # one result's Arrow size cap (truncated past it)
    query_workers: int = Field(default=2, ge=1)  # worker processes running queries
    worker_memory_mb: int = Field(default=1024, ge=128)  # each worker's kernel-enforced memory bound
    query_kill_grace_s: float = Field(default=2.0, gt=0)  # past the time limit + this, the worker is killed
    server_memory_mb: int = Field(default=768, ge=128)  # the API process's own budget (see docs/api.md)
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


class JobSchedule(BaseModel):
    """One scheduled job: its cron (None: the job's default, see docs/scheduling.md) and switch."""

    model_config = ConfigDict(extra="forbid")

    cron: str | None = None
    enabled: bool = True

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        if value is not None:
            from cronsim import CronSim, CronSimError

            try:
                if len(value.split()) != 5:  # cronsim also takes a sixth field, seconds: not here
                    raise CronSimError("Wrong number of fields")
                CronSim(value, datetime.now(UTC))
            except CronSimError as exc:
                # A LakehouseError passes through pydantic as is: the CLI prints it on one line.
                raise ConfigError(f"cron expression '{value}': {exc}",
                                  hint="five fields: minute hour day-of-month month day-of-week") from None
        return value


class ScheduleSettings(BaseModel):
    """`lakehouse scheduler`: when each job runs, how missed runs are caught up, retries, the lease."""

    model_config = ConfigDict(extra="forbid")

    timezone: str = "UTC"  # the crons' time zone
    catchup: Literal["latest", "all", "none"] = "latest"  # missed runs: once, each (capped), or never
    catchup_max: int = Field(default=3, ge=1)  # with `all`: at most this many of the latest missed runs
    retries: int = Field(default=3, ge=0)  # more attempts after a transient error
    retry_backoff_s: float = Field(default=2.0, ge=0)  # first wait; doubles each attempt
    retry_backoff_max_s: float = Field(default=120.0, ge=0)
    lease_s: float = Field(default=30.0, ge=1)  # a dead scheduler's lease is taken over after this
    ingest_source: Literal["files", "kafka"] = "files"
    # With Kafka: one continuous consumer (`ingest --follow`) while the scheduler runs, instead of
    # the ingest cron; silver then reads whatever bronze has committed.
    ingest_follow: bool = False
    ingest: JobSchedule = JobSchedule()
    silver: JobSchedule = JobSchedule()
    gold: JobSchedule = JobSchedule()
    retention: JobSchedule = JobSchedule()
    optimize: JobSchedule = JobSchedule()

    @field_validator("timezone")
    @classmethod
    def _valid_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"unknown time zone '{value}'", hint="an IANA name such as UTC or Europe/Paris") from None
        return value

class Window(BaseModel):
    """`warn` and `fail` thresholds of one signal (a value above them); None: never.

    A window given in part keeps the rest from the one it overrides (`over`): setting only
    `warn` keeps the default `fail`; an explicit null turns that threshold off.
    """

    model_config = ConfigDict(extra="forbid")

    warn: float | None = Field(default=None, ge=0)
    fail: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.warn is not None and self.fail is not None and self.warn > self.fail:
            raise ValueError(f"warn ({self.warn}) must not be above fail ({self.fail})")
        return self

    def over(self, base: Window) -> Window:
        values = {k: getattr(self if k in self.model_fields_set else base, k) for k in ("warn", "fail")}
        return Window(**values)


# The defaults of each signal's window, as types, so a partial setting keeps the other default.
class StalenessWindow(Window):
    warn: float | None = Field(default=600.0, ge=0)
    fail: float | None = Field(default=3600.0, ge=0)


class DelayWindow(Window):
    warn: float | None = Field(default=900.0, ge=0)
    fail: float | None = Field(default=3600.0, ge=0)


class NullsWindow(Window):
    warn: float | None = Field(default=5.0, ge=0)


class GrowthWindow(Window):
    warn: float | None = Field(default=float(1024**3), ge=0)


class KafkaLagWindow(Window):
    warn: float | None = Field(default=100_000.0, ge=0)


class TableMonitoring(BaseModel):
    """Per-table (or `layer.*` pattern) overrides of the monitoring windows; unset: the default."""

    model_config = ConfigDict(extra="forbid")

    staleness: Window | None = None  # seconds since the last commit
    data_lag: Window | None = None  # seconds since the newest event time
    delay: Window | None = None  # seconds the oldest input commit not yet consumed has waited
    delay_versions: Window | None = None  # input versions not yet consumed
    nulls_pct: Window | None = None  # % nulls found by a not_null/completeness check
    growth: Window | None = None  # bytes per day
    time_column: str | None = None  # event-time column for data lag (default: the contract's)
    alerts: bool = True  # False: reported, never alerted


class WebhookSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://\S+$")
    name: str | None = None  # receiver name in the payload and the delivery state (default: the URL)
    timeout_s: float = Field(default=5.0, gt=0)
    headers: dict[str, str] = Field(default_factory=dict)
    min_severity: Literal["warning", "critical"] = "warning"


class AlertRules(BaseModel):
    """Which problems alert; their thresholds are the monitoring windows."""

    model_config = ConfigDict(extra="forbid")

    stale: bool = True
    data_lag: bool = True
    layer_delay: bool = True
    nulls: bool = True
    storage_growth: bool = True
    failed_run: bool = True
    quality: bool = True  # a check whose latest outcome is fail or error
    job_age: bool = True
    kafka_lag: bool = True


def _default_table_overrides() -> dict[str, TableMonitoring]:
    # A quarantine is written only when bad records arrive: an unchanged one is good news.
    never = Window(warn=None, fail=None)
    return {"*.quarantine": TableMonitoring(staleness=never, data_lag=never)}


class MonitoringSettings(BaseModel):
    """Health signals, their warn/fail windows, alert rules and notifiers (docs/monitoring.md)."""

    model_config = ConfigDict(extra="forbid")

    staleness: StalenessWindow = StalenessWindow()
    data_lag: Window = Window()
    delay: DelayWindow = DelayWindow()
    delay_versions: Window = Window()
    nulls_pct: NullsWindow = NullsWindow()
    growth: GrowthWindow = GrowthWindow()
    tables: dict[str, TableMonitoring] = Field(default_factory=_default_table_overrides)
    job_age: Window = Window()  # seconds since a job's last successful run
    jobs: dict[str, Window] = Field(default_factory=dict)  # per job name
    failed_runs_window_s: float = Field(default=86_400.0, gt=0)
    kafka: Literal["auto", "on", "off"] = "auto"  # auto: when bronze holds Kafka offsets
    kafka_timeout_s: float = Field(default=2.0, gt=0)
    kafka_lag: KafkaLagWindow = KafkaLagWindow()  # messages per partition
    clock_skew_s: float = Field(default=300.0, ge=0)
    size_sample_interval_s: float = Field(default=600.0, gt=0)
    growth_min_span_s: float = Field(default=3600.0, gt=0)
    rules: AlertRules = AlertRules()
    repeat_interval_s: float = Field(default=4 * 3600.0, gt=0)
    log_alerts: bool = True
    webhooks: list[WebhookSettings] = Field(default_factory=list)
    webhook_attempts: int = Field(default=4, ge=1)
    webhook_backoff_s: float = Field(default=0.5, ge=0)
    metrics_cache_s: float = Field(default=5.0, ge=0)

    @field_validator("tables", mode="after")
    @classmethod
    def _keep_defaults(cls, value: dict[str, TableMonitoring]) -> dict[str, TableMonitoring]:
        # Overrides add to the defaults (a key of the same name replaces that default).
        return {**_default_table_overrides(), **value}


class MaintenanceSettings(BaseModel):
    """Retention, archive and table maintenance (`lakehouse retention|archive|optimize|vacuum`)."""

    model_config = ConfigDict(extra="forbid")

    archive_path: Path | None = None  # where retention archives expired rows (default <base>/archive)
    archive_days: int = Field(default=365, ge=1)  # archived rows are kept this long, by event date
    # VACUUM never removes files younger than this (Delta's own safety window is 7 days);
    # only an explicit override on the command goes below it.
    vacuum_min_hours: int = Field(default=168, ge=168)
    optimize_target_mb: int = Field(default=128, ge=1)  # compacted file size
    optimize_min_files: int = Field(default=2, ge=2)  # a partition with fewer small files is left alone
    lock_timeout_s: float = Field(default=600.0, gt=0)  # longest wait for a table's commit lock
    commit_attempts: int = Field(default=5, ge=1)  # tries of a maintenance commit that lost a race


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
    # A landing file's last line without a newline is taken only once the file has not
    # changed for this long: a live writer may be in the middle of it (docs/ingestion.md).
    ingest_settle_s: float = Field(default=60.0, ge=0)
    # A longer record is quarantined with a prefix of it, streamed past without holding it;
    # the limit used is at most ingest_chunk_bytes.
    ingest_max_record_bytes: int = Field(default=1024 * 1024, ge=1024)
    duckdb_threads: int | None = Field(default=None, ge=1)
    duckdb_memory_limit: str = "4GB"
    compression: Literal["snappy", "zstd", "gzip", "lz4", "uncompressed"] = "snappy"
    # Run every table's expectations on each batch before it is committed (see docs/quality.md).
    quality_checks: bool = True
    kafka: KafkaSettings = KafkaSettings()
    api: ApiSettings = ApiSettings()
    # The engine the transforms run on: embedded DuckDB, or Spark (the `spark` extra and Java 17).
    engine: Literal["duckdb", "spark"] = "duckdb"
    spark: SparkSettings = SparkSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    maintenance: MaintenanceSettings = MaintenanceSettings()

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
        return self.maintenance.archive_path or self.base_path / "archive"

    @property
    def metadata_dsn(self) -> str:
        return self.metadata_url or f"sqlite:///{(self.base_path / 'metadata.db').resolve()}"
