"""The shape of a table declaration: what every table of the lake says about itself, once.

A `TableSpec` is the single place that names a table's layer, name, seed aliases, columns
(with descriptions and PII tags), partitioning, keys, owner and retention, and for a model
its SQL file and kind. The catalog's defaults, name resolution, lineage, the listing and
`docs/contract.md` are all read from these declarations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from lakehouse.contract.expectations import Expectation

Layer = Literal["bronze", "silver", "gold"]
LAYERS: tuple[Layer, ...] = get_args(Layer)

ModelKind = Literal["unique_key", "partition", "sessions", "cdc_merge", "full"]
MODEL_KINDS: tuple[ModelKind, ...] = get_args(ModelKind)

# Logical column types; `storage` maps them to Arrow, engines to their own SQL types.
ColumnType = Literal[
    "string", "json", "int32", "int64", "double", "bool", "timestamp", "date", "list<string>"
]


@dataclass(frozen=True, order=True)
class TableId:
    """A table's address, `layer.name` (`gold.user_segments`)."""

    layer: Layer
    name: str

    @property
    def fqn(self) -> str:
        return f"{self.layer}.{self.name}"

    def __str__(self) -> str:
        return self.fqn


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    description: str
    pii: bool = False


@dataclass(frozen=True)
class ModelSpec:
    """How a silver or gold table is built from its inputs.

    `kind` picks the materialisation (`pipeline/kinds/`); `key` is the dedup key (unique_key)
    or the merge key (cdc_merge); `order` breaks ties between duplicates (earliest wins);
    `sequence` orders changes (cdc_merge). The SQL lives in `pipeline/models/<sql>`.
    """

    kind: ModelKind
    key: str | None = None
    order: tuple[str, ...] = ("_ingested_at", "_source")
    sequence: str | None = None
    sql: str | None = None  # path under pipeline/models/; default "<layer>/<name>.sql"


@dataclass(frozen=True)
class TableSpec:
    layer: Layer
    name: str
    description: str
    columns: tuple[Column, ...]
    owner: str
    retention_days: int | None
    partition_by: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()  # columns that identify a row (unique after the table's rules apply)
    aliases: tuple[str, ...] = ()  # seed names beyond `<name>_<layer>` and `<layer>_<name>`
    tags: tuple[str, ...] = ()
    model: ModelSpec | None = None
    append_only: bool = False  # rows are only ever appended: readers may read just the new ones
    # How far back rows are kept is `retention_days`, by `retention_column` (event date); a table
    # without one (current state: users, segments) is kept whole. `lakehouse retention` applies it.
    retention_column: str | None = None
    expectations: tuple[Expectation, ...] = ()
    time_column: str | None = None  # event time (the lake's data clock is the newest across bronze)
    # Columns OPTIMIZE clusters the files of a partition by (Z-order): the columns queries filter
    # and group on most, never a partition column. Empty: plain compaction.
    zorder: tuple[str, ...] = ()
    column_index: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = {c.name: c for c in self.columns}
        if len(index) != len(self.columns):
            raise ValueError(f"{self.layer}.{self.name}: duplicate column names")
        for name in (*self.partition_by, *self.keys, *self.zorder, *filter(None, [self.retention_column])):
            if name not in index:
                raise ValueError(f"{self.layer}.{self.name}: '{name}' is not a declared column")
        if set(self.zorder) & set(self.partition_by):
            raise ValueError(f"{self.layer}.{self.name}: a partition column cannot be a Z-order column")
        if self.retention_column is not None and index[self.retention_column].type != "date":
            raise ValueError(f"{self.layer}.{self.name}: retention_column must be a date column")
        if self.retention_days is not None and self.retention_days < 1:
            raise ValueError(f"{self.layer}.{self.name}: retention_days must be at least 1")
        object.__setattr__(self, "column_index", index)

    @property
    def id(self) -> TableId:
        return TableId(self.layer, self.name)

    @property
    def fqn(self) -> str:
        return f"{self.layer}.{self.name}"

    @property
    def pii_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.pii]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def sql_path(self) -> str | None:
        if self.model is None:
            return None
        return self.model.sql or f"{self.layer}/{self.name}.sql"
