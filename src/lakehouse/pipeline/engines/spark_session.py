"""The one Spark session of a process: local, a standalone cluster, or Spark Connect.

Starting a JVM costs seconds, so the session is made once per process and shared by every
`SparkEngine` (one per layer). Delta comes from Maven Central on first use (`spark.jars.packages`,
cached under `spark.jar_cache`, independent of any lake). The JVM's own output (Ivy's
resolution report, log4j) goes to a log file, not to the terminal: the core never prints.

The settings below make Spark compute what DuckDB computes for the same SQL (the models'
dialect): UTC everywhere, NULL (not an error) for a bad cast or a division by zero, NULL for
`size(NULL)`, and Parquet timestamps as microseconds with zone so every reader of the lake
(delta-rs, DuckDB) sees the same `timestamp` type.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import re
import shutil
import subprocess
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakehouse.config import Settings, SparkSettings
from lakehouse.exceptions import ConfigError, LakehouseError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

JAVA_HINT = "apt-get install openjdk-17-jre-headless, or set JAVA_HOME"
# Jars Spark itself ships (newer): resolving delta-spark's copies would only download ~150 MB
# that the JVM never loads (Spark's own classes come first on the class path).
_EXCLUDES = (
    "org.apache.hadoop:hadoop-client-api", "org.apache.hadoop:hadoop-client-runtime",
    "org.apache.parquet:parquet-hadoop", "org.apache.parquet:parquet-column",
    "org.apache.parquet:parquet-common", "org.apache.parquet:parquet-encoding",
    "org.apache.parquet:parquet-format-structures", "org.apache.parquet:parquet-jackson",
    "com.fasterxml.jackson.core:jackson-databind", "com.fasterxml.jackson.core:jackson-core",
    "com.fasterxml.jackson.core:jackson-annotations", "org.apache.logging.log4j:log4j-core",
    "org.apache.logging.log4j:log4j-api", "org.apache.logging.log4j:log4j-slf4j2-impl",
    "org.slf4j:slf4j-api", "org.xerial.snappy:snappy-java", "com.github.luben:zstd-jni",
    "io.airlift:aircompressor",
)

_lock = threading.Lock()
_session: SparkSession | None = None


class SparkUnavailableError(ConfigError):
    """Spark cannot run here: pyspark, Java or the Delta jars are missing."""


def delta_package() -> str:
    """The delta-spark jar matching the installed pyspark and delta-spark (Scala 2.13)."""
    import pyspark

    spark = ".".join(pyspark.__version__.split(".")[:2])
    return f"io.delta:delta-spark_{spark}_2.13:{importlib.metadata.version('delta-spark')}"


def check_java() -> None:
    """Java 17 or newer on PATH (or JAVA_HOME), or one line saying what to install."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        raise SparkUnavailableError("Spark needs Java 17, not found", hint=JAVA_HINT)
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.SubprocessError) as exc:
        raise SparkUnavailableError(f"could not run {java}: {exc}", hint=JAVA_HINT) from None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    major = int(match.group(1)) if match else 0
    if major == 1 and match and match.group(2):  # "1.8.0_..." is Java 8
        major = int(match.group(2))
    if major < 17:
        raise SparkUnavailableError(f"Spark needs Java 17 or newer, found {major or 'unknown'}", hint=JAVA_HINT)


def spark_conf(spark: SparkSettings) -> dict[str, str]:
    """Every Spark setting the engine starts with (the user's `conf` wins over ours)."""
    utc = "-Duser.timezone=UTC"
    conf = {
        "spark.app.name": spark.app_name,
        "spark.master": spark.master,
        "spark.driver.memory": spark.driver_memory,
        "spark.jars.packages": delta_package(),
        "spark.jars.ivy": str(spark.jar_cache / "ivy"),
        "spark.jars.excludes": ",".join(_EXCLUDES),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.extraJavaOptions": utc,
        "spark.executor.extraJavaOptions": utc,
        "spark.sql.ansi.enabled": "false",
        "spark.sql.legacy.sizeOfNull": "false",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.shuffle.partitions": str(spark.shuffle_partitions),
        "spark.ui.enabled": str(spark.ui).lower(),
        "spark.ui.showConsoleProgress": "false",
        # Tables stay on the protocol both writers speak (delta-rs creates them; see docs/spark.md).
        "spark.databricks.delta.properties.defaults.enableDeletionVectors": "false",
        "spark.databricks.delta.write.txnVersion.autoReset.enabled": "true",
        # Rebuilding a snapshot's state from the log is a Spark job; the default 50 partitions
        # cost more than the lake's logs are big. The .crc side file is optional for readers.
        "spark.databricks.delta.snapshotPartitions": "2",
        "spark.databricks.delta.writeChecksumFile.enabled": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
    }
    if spark.master.startswith("local"):
        # In-process: nothing needs to reach the driver from another machine.
        conf |= {"spark.driver.bindAddress": "127.0.0.1", "spark.driver.host": "127.0.0.1"}
    if spark.executor_memory:
        conf["spark.executor.memory"] = spark.executor_memory
    conf.update(spark.conf)
    return conf


def get_session(settings: Settings) -> SparkSession:
    """The process's Spark session, started on first use with `settings.spark`."""
    global _session
    with _lock:
        if _session is not None and _alive(_session):
            return _session
        _session = _start(settings)
        return _session


def stop_session() -> None:
    global _session
    with _lock:
        if _session is not None:
            _session.stop()
            _session = None


def _alive(session: SparkSession) -> bool:
    try:
        jsc = session.sparkContext._jsc
        return jsc is not None and not jsc.sc().isStopped()
    except Exception:  # a Connect session has no SparkContext; a dead gateway raises
        return not getattr(session, "is_stopped", False)


def _start(settings: Settings) -> SparkSession:
    try:
        import delta  # noqa: F401
        import pyspark  # noqa: F401
    except ImportError:
        raise SparkUnavailableError(
            "the Spark engine needs pyspark and delta-spark", hint="pip install 'lakehouse[spark]'"
        ) from None
    # PySpark logs every failed query to stderr itself (the error reaches the caller anyway), and
    # warns about pandas 3, which the engine never hands it (its data goes through Arrow).
    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        logging.getLogger(name).disabled = True
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    spark = settings.spark
    if spark.master.startswith("sc://"):
        return _connect(spark)
    if os.environ.get("PYSPARK_GATEWAY_PORT"):
        return _submitted(spark)
    check_java()
    spark.jar_cache.mkdir(parents=True, exist_ok=True)
    logs = settings.logs_path
    logs.mkdir(parents=True, exist_ok=True)
    return _local_or_cluster(spark_conf(spark), logs / "spark-driver.log")


def _local_or_cluster(conf: dict[str, str], log_file: Path) -> SparkSession:
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway
    from pyspark.sql import SparkSession

    spark_conf = SparkConf(loadDefaults=False).setAll(list(conf.items()))
    with log_file.open("ab") as out:
        try:
            # Our own gateway, to send the JVM's output to the log file (SparkContext takes it).
            gateway = launch_gateway(spark_conf, popen_kwargs={"stdout": out, "stderr": out})  # type: ignore[no-untyped-call]
            SparkContext(conf=spark_conf, gateway=gateway)
        except Exception as exc:
            raise LakehouseError(
                f"Spark did not start: {_reason(log_file) or str(exc).splitlines()[0]}",
                hint=f"the JVM's output is in {log_file}",
            ) from None
    return SparkSession.builder.getOrCreate()


# Under spark-submit these come from its command line (--master, --packages, --driver-memory).
_SUBMIT_OWNS = ("spark.master", "spark.app.name", "spark.driver.memory", "spark.jars.packages", "spark.jars.ivy",
                "spark.jars.excludes", "spark.driver.extraJavaOptions")


def _submitted(spark: SparkSettings) -> SparkSession:
    """Inside `spark-submit`: its JVM is already running; add the lake's SQL settings."""
    from pyspark.sql import SparkSession

    builder: Any = SparkSession.builder
    for key, value in spark_conf(spark).items():
        if key not in _SUBMIT_OWNS or key in spark.conf:
            builder = builder.config(key, value)
    session: SparkSession = builder.getOrCreate()
    return session


def _connect(spark: SparkSettings) -> SparkSession:
    from pyspark.sql import SparkSession

    builder: Any = SparkSession.builder.remote(spark.master).appName(spark.app_name)
    for key, value in {"spark.sql.session.timeZone": "UTC", "spark.sql.ansi.enabled": "false",
                       "spark.sql.legacy.sizeOfNull": "false", **spark.conf}.items():
        builder = builder.config(key, value)
    try:
        session: SparkSession = builder.getOrCreate()
    except Exception as exc:
        raise LakehouseError(
            f"could not reach Spark Connect at {spark.master}: {str(exc).splitlines()[0]}",
            hint="start the server with the Delta package and check the URL",
        ) from None
    return session


def _reason(log_file: Path) -> str | None:
    """The line of the JVM's output that says why it exited (unresolved jar, bad option, ...)."""
    try:
        lines = log_file.read_text(errors="replace").splitlines()[-200:]
    except OSError:
        return None
    for line in reversed(lines):
        if "Exception" in line or "Error" in line or "unresolved dependency" in line:
            return line.strip()[:300]
    return None
