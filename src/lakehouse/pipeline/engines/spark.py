"""Spark: engine #2, the same models on Apache Spark with Delta (delta-spark), same tables.

Binding: a lake table is a temp view over its latest Delta snapshot, or over the rows Delta's change data feed says were
inserted after a version (`readChangeFeed`, the feed `TableStore.changes` reads). Model SQL
is translated from DuckDB's dialect (`spark_sql.py`). Intermediate relations are local
checkpoints: computed once, never recomputed from inputs that a later step rebinds.

Writing: tables are created by the `TableStore` (delta-rs) so both engines' tables start from
the same minimal protocol and properties; Spark then appends, overwrites (`replaceWhere` for
partitions) or MERGEs. Progress markers: delta-spark records ONE application transaction per
commit (`txnAppId`/`txnVersion`; for MERGE the `spark.databricks.delta.write.txnAppId` session
confs). A single-input model carries its marker in its data commit; the markers of a
multi-input model (`partition`, `full`: replace semantics, idempotent on rerun) and any marker
Spark skipped (its version not above the recorded one, e.g. a full refresh with no new input,
which Spark would otherwise drop whole) are recorded by one marker-only commit right after.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa

from lakehouse.config import Settings
from lakehouse.contract import REGISTRY, TableId
from lakehouse.contract.arrow import arrow_schema
from lakehouse.exceptions import CommitConflictError
from lakehouse.pipeline.engines.base import Audit, Capability, WriteMode
from lakehouse.pipeline.engines.spark_session import get_session
from lakehouse.pipeline.engines.spark_sql import to_spark, union_by_name, view_name
from lakehouse.pipeline.sql import in_list
from lakehouse.storage.base import (
    HistoryUnavailableError,
    MergeSpec,
    Metadata,
    PartitionFilter,
    TableStore,
    Txns,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

CHANGE_COLUMNS = ("_change_type", "_commit_version", "_commit_timestamp")
TXN_APP_ID = "spark.databricks.delta.write.txnAppId"
TXN_VERSION = "spark.databricks.delta.write.txnVersion"


def spark_type(t: pa.DataType) -> str | None:
    """The Spark SQL type of an Arrow type the lake uses (None: leave the column as it is)."""
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "STRING"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        inner = spark_type(t.value_type)
        return f"ARRAY<{inner}>" if inner else None
    simple = {pa.int64(): "BIGINT", pa.int32(): "INT", pa.int16(): "SMALLINT", pa.float64(): "DOUBLE",
              pa.float32(): "FLOAT", pa.bool_(): "BOOLEAN", pa.date32(): "DATE"}
    if t in simple:
        return simple[t]
    if pa.types.is_timestamp(t):
        return "TIMESTAMP"
    return None


class SparkEngine:
    name: ClassVar[str] = "spark"
    dialect: ClassVar[str] = "spark"
    supports: ClassVar[frozenset[Capability]] = frozenset(
        {"arrow_input", "merge", "replace_partitions", "change_feed"}
    )

    def __init__(self, settings: Settings, store: TableStore) -> None:
        self.settings = settings
        self.store = store
        self.spark: SparkSession = get_session(settings)
        self._views: set[str] = set()
        self._cached: list[DataFrame] = []
        self._n = 0

    def close(self) -> None:
        """Drop what this engine bound and cached; the session stays for the next engine."""
        catalog = self.spark.catalog
        for view in self._views:
            catalog.dropTempView(view)
        for df in self._cached:
            df.unpersist()
        self._views.clear()
        self._cached.clear()

    # -- binding ----------------------------------------------------------------------------
    def _path(self, table: TableId) -> str:
        return str(self.store.path(table).resolve())

    def _register(self, df: DataFrame, name: str) -> None:
        view = view_name(name)
        df.createOrReplaceTempView(view)
        self._views.add(view)

    def bind_table(self, table: TableId, *, where: str | None = None, name: str | None = None) -> None:
        # The latest snapshot, like DuckDB's file list (time travel would rebuild state each time).
        df = self.spark.read.format("delta").load(self._path(table))
        self._register(df.where(self._expr(where)) if where else df, name or table.fqn)

    def bind_changes(self, table: TableId, since: int, *, name: str | None = None) -> int:
        current = self.store.version(table)
        if current is None or since >= current:
            df = self._empty(table)
        else:
            if self.store.snapshot(table).properties.get("delta.enableChangeDataFeed") != "true":
                raise HistoryUnavailableError(f"{table}: change data feed is not enabled")
            try:
                feed = (self.spark.read.format("delta").option("readChangeFeed", "true")
                        .option("startingVersion", since + 1).option("endingVersion", current)
                        .load(self._path(table)))
                df = self._checkpoint(feed.where("_change_type = 'insert'").drop(*CHANGE_COLUMNS))
            except Exception as exc:  # vacuumed files, a log cleaned up, the feed off for a range
                if _is_analysis_or_io(exc):
                    raise HistoryUnavailableError(f"{table}: changes after v{since}: {_first_line(exc)}") from exc
                raise
        self._register(df, name or table.fqn)
        return int(df.count())

    def _empty(self, table: TableId) -> DataFrame:
        schema = self.store.schema(table) if self.store.exists(table) else arrow_schema(REGISTRY.get(table))
        return self.spark.createDataFrame(schema.empty_table())

    def bind_arrow(self, table: TableId, data: pa.Table, *, name: str | None = None) -> None:
        self._register(self.spark.createDataFrame(data), name or table.fqn)

    def bind_query(self, name: TableId | str, sql: str) -> None:
        self._register(self._df(sql), name.fqn if isinstance(name, TableId) else name)

    # -- running ----------------------------------------------------------------------------
    def _df(self, sql: str) -> DataFrame:
        parts = union_by_name(sql)
        if parts is not None:
            left, right, distinct = parts
            df = self._df(left).unionByName(self._df(right), allowMissingColumns=True)
            return df.distinct() if distinct else df
        return self.spark.sql(to_spark(sql))

    def _expr(self, condition: str) -> str:
        """A condition in the models' dialect as a Spark SQL expression."""
        select = to_spark(f"SELECT 1 WHERE {condition}")
        return select.split(" WHERE ", 1)[1]

    def _checkpoint(self, df: DataFrame) -> DataFrame:
        # Computed once and kept (memory, then disk) for the rest of the run.
        kept = df.localCheckpoint(eager=True)
        self._cached.append(kept)
        return kept

    def materialize(self, name: str, sql: str) -> int:
        df = self._checkpoint(self._df(sql))
        self._register(df, name)
        return int(df.count())

    def arrow(self, sql: str) -> pa.Table:
        table: pa.Table = self._df(sql).toArrow()
        return table

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        # Through Arrow: timestamps come back with their zone, not as naive local times.
        table = self.arrow(sql)
        columns = [c.to_pylist() for c in table.columns]
        return list(zip(*columns, strict=True)) if columns else []

    def fetch_dicts(self, sql: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.arrow(sql).to_pylist()
        return rows

    def schema(self, sql: str) -> pa.Schema:
        schema: pa.Schema = self._df(sql).limit(0).toArrow().schema
        return schema

    def scalar(self, sql: str) -> Any:
        rows = self.rows(sql)
        return rows[0][0] if rows else None

    # -- writing ----------------------------------------------------------------------------
    def _conform(self, target: TableId, df: DataFrame) -> DataFrame:
        """Cast columns to the target's types (its Delta schema, or the contract's declaration).

        Spark's types for the same SQL can be narrower (`datediff` is INT where DuckDB's
        `date_diff` is BIGINT); the table's type is the contract both engines write.
        """
        if self.store.exists(target):
            types = {f.name: f.type for f in self.store.schema(target)}
        elif target in REGISTRY:
            types = {f.name: f.type for f in arrow_schema(REGISTRY.get(target))}
        else:
            types = {}
        current = dict(df.dtypes)
        cols = []
        for c in df.columns:
            want = spark_type(types[c]) if c in types else None
            same = want is None or current[c].upper().replace(" ", "") == want.replace(" ", "")
            cols.append(f"`{c}`" if same else f"CAST(`{c}` AS {want}) AS `{c}`")
        return df.selectExpr(*cols)

    def _create(self, target: TableId, df: DataFrame, partition_by: Sequence[str] | None) -> None:
        """Create `target` empty through the store (delta-rs): the same protocol either engine."""
        # Nullable like every column DuckDB hands delta-rs: Spark knows `count(*)` is never NULL,
        # but a table it creates must take the other engine's rows too.
        spark_schema: pa.Schema = df.limit(0).toArrow().schema
        schema = pa.schema([f.with_nullable(True) for f in spark_schema])
        self.store.append(target, schema.empty_table(), partition_by=partition_by)

    def _txn(self, target: TableId, txns: Txns | None) -> tuple[str, int] | None:
        """The one marker Spark can commit with the data: single, and above the recorded one."""
        if not txns or len(txns) != 1:
            return None
        ((app, version),) = txns.items()
        recorded = self.store.txn_versions(target, [app]).get(app)
        return (app, int(version)) if recorded is None or int(version) > recorded else None

    def _settle(self, target: TableId, txns: Txns | None, metadata: Metadata | None) -> int:
        """Record in one marker-only commit whatever markers the data commit did not carry."""
        if txns and self.store.txn_versions(target, txns) != dict(txns):
            return self.store.record(target, txns, metadata=metadata)
        version = self.store.version(target)
        assert version is not None
        return version

    def write(
        self, target: TableId, sql: str, *, mode: WriteMode, where: PartitionFilter | None = None,
        partition_by: Sequence[str] | None = None, txns: Txns | None = None, metadata: Metadata | None = None,
        audit: Audit | None = None,
    ) -> int:
        if audit is not None:  # not in `supports`: the gate stages Spark's batches instead
            raise NotImplementedError("the Spark engine does not run audited writes")
        df = self._conform(target, self._df(sql))
        if not self.store.exists(target):
            self._create(target, df, partition_by)
        writer = df.write.format("delta").mode(mode).option("userMetadata", _user_metadata(metadata))
        if mode == "append":
            writer = writer.option("mergeSchema", "true")  # as the store's append (schema_mode=merge)
        elif where is not None:
            writer = writer.option("replaceWhere", self._expr(in_list(where.column, where.values)))
        txn = self._txn(target, txns)
        if txn is not None:
            writer = writer.option("txnAppId", txn[0]).option("txnVersion", str(txn[1]))
        try:
            writer.save(self._path(target))
        except Exception as exc:
            _raise_conflict(exc, f"commit to {target}")
            raise
        return self._settle(target, txns, metadata)

    def merge(
        self, target: TableId, sql: str, spec: MergeSpec, *, txns: Txns | None = None,
        metadata: Metadata | None = None,
    ) -> int:
        from delta.tables import DeltaTable

        source = self._conform(target, self._df(sql))
        columns = list(spec.columns or self.store.schema(target).names)
        values: dict[str, str | Column] = {quote_spark(c): f"s.{quote_spark(c)}" for c in columns}
        on = " AND ".join(f"t.{quote_spark(k)} = s.{quote_spark(k)}" for k in (*spec.prune, *spec.on))
        cond = {k: self._expr(v) if v else None for k, v in
                (("delete", spec.delete_when), ("update", spec.update_when), ("insert", spec.insert_when))}
        builder = DeltaTable.forPath(self.spark, self._path(target)).alias("t").merge(source.alias("s"), on)
        if cond["delete"] is not None:
            builder = builder.whenMatchedDelete(condition=cond["delete"])
        builder = builder.whenMatchedUpdate(condition=cond["update"], set=values)
        if cond["insert"] is not None:
            builder = builder.whenNotMatchedInsert(condition=cond["insert"], values=values)
        else:
            builder = builder.whenNotMatchedInsert(values=values)
        txn = self._txn(target, txns)
        conf = self.spark.conf
        session_conf = {"spark.databricks.delta.commitInfo.userMetadata": _user_metadata(metadata)}
        if txn is not None:
            session_conf |= {TXN_APP_ID: txn[0], TXN_VERSION: str(txn[1])}
        try:
            for k, v in session_conf.items():
                conf.set(k, v)
            builder.execute()
        except Exception as exc:
            _raise_conflict(exc, f"merge into {target}")
            raise
        finally:
            for k in session_conf:
                conf.unset(k)
        return self._settle(target, txns, metadata)


def quote_spark(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _user_metadata(metadata: Metadata | None) -> str:
    # delta-spark has no per-commit custom keys: what delta-rs writes as commitInfo keys goes,
    # as JSON, into commitInfo.userMetadata.
    return json.dumps({**(metadata or {}), "lakehouse.engine": "spark"}, sort_keys=True)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__


def _is_analysis_or_io(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}"
    return any(s in text for s in (
        "AnalysisException", "FileNotFound", "DELTA_MISSING_CHANGE_DATA", "DELTA_CHANGE_DATA_FEED",
        "VersionNotFound", "DELTA_VERSIONS_NOT_CONTIGUOUS", "DELTA_FILE_NOT_FOUND", "does not exist",
    ))


def _raise_conflict(exc: BaseException, what: str) -> None:
    text = f"{type(exc).__name__} {exc}"
    if "ConcurrentAppend" in text or "ConcurrentDelete" in text or "ConcurrentModification" in text \
            or "ProtocolChanged" in text or "MetadataChanged" in text or "DELTA_CONCURRENT" in text:
        raise CommitConflictError(f"{what} lost a race: {_first_line(exc)}") from exc


__all__ = ["SparkEngine", "quote_spark", "spark_type"]
