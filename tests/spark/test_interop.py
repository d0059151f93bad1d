"""Tables written by delta-rs are read and extended by Spark and the other way round, on
the protocol both speak: Spark's writes change neither the protocol nor the table properties
delta-rs created, and its data files carry timestamps as microseconds with zone (UTC)."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from lakehouse.contract import REGISTRY, TableId
from lakehouse.pipeline.engines import DuckDBEngine
from lakehouse.pipeline.registry import load_models
from lakehouse.service import Lakehouse

FORBIDDEN = {"deletionVectors", "columnMapping", "timestampNtz", "v2Checkpoint", "rowTracking", "domainMetadata"}


def _protocol(lh: Lakehouse, table: TableId) -> tuple[object, ...]:
    p = DeltaTable(str(lh.store.path(table))).protocol()
    return (p.min_reader_version, p.min_writer_version, sorted(p.reader_features or []), sorted(p.writer_features or []))


@pytest.mark.parametrize("model", [m.table for m in load_models()], ids=str)
def test_spark_keeps_the_protocol_and_properties_delta_rs_made(
    duckdb_lake: Lakehouse, mixed_lake: Lakehouse, spark_lake: Lakehouse, spark_first_lake: Lakehouse, model: TableId
) -> None:
    reference = _protocol(duckdb_lake, model)
    assert _protocol(mixed_lake, model) == reference  # DuckDB, then Spark, then DuckDB wrote it
    assert _protocol(spark_lake, model) == reference  # only Spark wrote rows
    assert _protocol(spark_first_lake, model) == reference  # Spark, then DuckDB, then Spark
    for lake in (mixed_lake, spark_lake, spark_first_lake):
        _, _, reader, writer = _protocol(lake, model)
        assert not FORBIDDEN & (set(reader) | set(writer))
        assert lake.store.snapshot(model).properties == duckdb_lake.store.snapshot(model).properties


def test_spark_data_files_carry_utc_microsecond_timestamps(spark_lake: Lakehouse) -> None:
    checked = 0
    for model in load_models():
        spec = REGISTRY.get(model.table)
        stamps = [c.name for c in spec.columns if c.type == "timestamp"]
        for path in spark_lake.store.snapshot(model.table).paths:
            schema = pq.read_schema(path)
            for name in stamps:
                t = schema.field(name).type
                assert (t.unit, t.tz) == ("us", "UTC"), f"{model.table}.{name} in {path}: {t}"
                checked += 1
    assert checked > 20


def test_duckdb_reads_spark_tables_with_their_types(spark_lake: Lakehouse) -> None:
    engine = DuckDBEngine(spark_lake.settings, spark_lake.store)
    try:
        engine.bind_table(TableId("silver", "clickstream_sessions"))
        types = dict(engine.rows("SELECT column_name, column_type FROM (DESCRIBE silver.clickstream_sessions)"))
        assert types["session_start"] == "TIMESTAMP WITH TIME ZONE"
        assert types["page_sequence"] == "VARCHAR[]" and types["session_date"] == "DATE"
        n = engine.scalar("SELECT count(*) FROM silver.clickstream_sessions WHERE session_end >= session_start")
        assert n == spark_lake.store.snapshot(TableId("silver", "clickstream_sessions")).rows
    finally:
        engine.close()
