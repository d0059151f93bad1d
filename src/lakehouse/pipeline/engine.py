"""The DuckDB engine the models run on.

Lake tables are bound as views named `layer.table` over their Delta data files (the file
list comes from the Delta log, so only committed files are read), optionally narrowed to
a slice: the files added since a version, or the partitions an incremental run rebuilds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import duckdb
import pyarrow as pa

from lakehouse.config import Settings
from lakehouse.storage.delta import DeltaStore
from lakehouse.storage.names import LAYERS, TableId

_DUCK_TYPES = {pa.date32(): "DATE", pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.int32(): "INTEGER"}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_list(values: Sequence[object]) -> str:
    out = []
    for v in values:
        if isinstance(v, date):
            out.append(f"DATE '{v.isoformat()}'")
        elif isinstance(v, str):
            out.append("'" + v.replace("'", "''") + "'")
        else:
            out.append(str(v))
    return ", ".join(out)


class Engine:
    def __init__(self, settings: Settings, store: DeltaStore) -> None:
        self.store = store
        self.con = duckdb.connect(config={"memory_limit": settings.duckdb_memory_limit})
        self.con.execute("SET TimeZone='UTC'")
        if settings.duckdb_threads:
            self.con.execute(f"SET threads={int(settings.duckdb_threads)}")
        for layer in LAYERS:
            self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {layer}")
        self._n = 0

    def close(self) -> None:
        self.con.close()

    def bind_files(
        self, table: TableId, files: list[str] | None = None, where: str | None = None, name: str | None = None
    ) -> None:
        """Bind `table` to its current files (or to `files`, absolute paths), filtered by `where`.

        `name` binds the same data under another view name instead of `layer.table`.
        """
        dt = self.store.open(table)
        schema = pa.schema(dt.schema().to_arrow())
        parts = list(dt.metadata().partition_columns)
        paths = dt.file_uris() if files is None else files
        paths = [p.removeprefix("file://") for p in paths]
        if not paths:
            self.bind_arrow(table, schema.empty_table(), where, name)
            return
        hive = ", ".join(f"{_q(c)}: '{_DUCK_TYPES.get(schema.field(c).type, 'VARCHAR')}'" for c in parts)
        src = (
            f"read_parquet([{sql_list(paths)}], union_by_name=true"
            + (f", hive_partitioning=true, hive_types={{{hive}}}" if parts else "")
            + ")"
        )
        cols = ", ".join(_q(f.name) for f in schema)
        self._view(name or table.fqn, f"SELECT {cols} FROM {src}", where)

    def bind_arrow(self, table: TableId, data: pa.Table, where: str | None = None, name: str | None = None) -> None:
        self._n += 1
        registered = f"__arrow_{self._n}"
        self.con.register(registered, data)
        self._view(name or table.fqn, f"SELECT * FROM {registered}", where)

    def bind_sql(self, table: TableId, sql: str) -> None:
        self._view(table.fqn, sql, None)

    def _view(self, view: str, select: str, where: str | None) -> None:
        body = f"SELECT * FROM ({select}) WHERE {where}" if where else select
        self.con.execute(f"CREATE OR REPLACE VIEW {view} AS {body}")

    def query(self, sql: str) -> duckdb.DuckDBPyRelation:
        return self.con.sql(sql)

    def scalar(self, sql: str) -> int:
        rows = self.con.execute(sql).fetchall()
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    def arrow(self, sql: str) -> pa.Table:
        return self.con.sql(sql).to_arrow_table()

    def materialize(self, name: str, sql: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
