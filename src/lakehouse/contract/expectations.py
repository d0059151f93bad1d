"""Expectations: what must hold of a table's rows, declared beside the table in the contract.

Each expectation is checked by a query that selects the rows violating it (the same text runs
on every engine); `lakehouse.quality` compiles and runs them. What happens on a violation is
the expectation's `action`, and when the outcome counts is set by two thresholds, like dbt's
`warn_if`/`error_if`:

- `warn` — the row is kept and the check's name is added to its `quality_issues` (row checks);
- `drop` — the row is not written: it goes to `silver.quarantine` with the check and the run id;
- `fail` — the run stops before its commit: the table stays at its previous version.

`warn_if` (default `> 0`) makes the outcome `warn`; `fail_if` makes it `fail` and stops the run
(default: `> 0` for `action="fail"`, never otherwise). Thresholds are counts (`> 10`) or
percentages of the rows checked (`> 1%`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Literal, TypedDict, Unpack

Action = Literal["warn", "drop", "fail"]
_THRESHOLD = re.compile(r"^\s*(>=|>)\s*(\d+(?:\.\d+)?)\s*(%?)\s*$")


@dataclass(frozen=True)
class Threshold:
    """`> n`, `>= n`, `> p%` or `>= p%` of the rows checked."""

    op: Literal[">", ">="]
    value: float
    percent: bool

    @classmethod
    def parse(cls, text: str) -> Threshold:
        m = _THRESHOLD.match(text)
        if m is None:
            raise ValueError(f"threshold '{text}' is not of the form '> 10', '>= 5' or '> 1%'")
        op: Literal[">", ">="] = ">=" if m.group(1) == ">=" else ">"
        return cls(op, float(m.group(2)), m.group(3) == "%")

    def crossed(self, failing: float, checked: int) -> bool:
        measure = 100.0 * failing / checked if self.percent and checked else (0.0 if self.percent else failing)
        return measure >= self.value if self.op == ">=" else measure > self.value

    def __str__(self) -> str:
        value = f"{self.value:f}".rstrip("0").rstrip(".")
        return f"{self.op} {value}{'%' if self.percent else ''}"


@dataclass(frozen=True, kw_only=True)
class Expectation:
    """Common to every expectation: its name, action and thresholds."""

    name: str = ""
    action: Action = "warn"
    warn_if: str | None = "> 0"
    fail_if: str | None = None
    description: str = ""

    # Row checks can annotate (warn) or drop single rows; aggregate checks judge the whole batch.
    row_level: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.default_name())
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.name):
            raise ValueError(f"expectation name '{self.name}' must be lower_snake_case")
        if self.action == "drop" and not self.row_level:
            raise ValueError(f"{self.name}: only row checks can drop rows")
        for t in (self.warn_if, self.fail_if):
            if t is not None:
                Threshold.parse(t)

    def default_name(self) -> str:
        return type(self).__name__.lower()

    @property
    def warn_threshold(self) -> Threshold | None:
        return Threshold.parse(self.warn_if) if self.warn_if else None

    @property
    def fail_threshold(self) -> Threshold | None:
        if self.fail_if:
            return Threshold.parse(self.fail_if)
        return Threshold(">", 0, False) if self.action == "fail" else None

    @property
    def before_commit(self) -> bool:
        """Must be judged before the commit (it can stop the run or change what is written)."""
        return self.action in ("drop", "fail") or self.fail_if is not None


@dataclass(frozen=True, kw_only=True)
class NotNull(Expectation):
    columns: tuple[str, ...]

    def default_name(self) -> str:
        return "_".join(self.columns) + "_not_null"


@dataclass(frozen=True, kw_only=True)
class AcceptedValues(Expectation):
    column: str
    values: tuple[str | int | float | bool, ...]
    allow_null: bool = False

    def default_name(self) -> str:
        return f"{self.column}_in_set"


@dataclass(frozen=True, kw_only=True)
class InRange(Expectation):
    """min <= value <= max (each bound inclusive unless said); a null passes (see NotNull)."""

    column: str
    min: float | str | None = None
    max: float | str | None = None
    min_inclusive: bool = True
    max_inclusive: bool = True

    def __post_init__(self) -> None:
        if self.min is None and self.max is None:
            raise ValueError(f"range check on {self.column} needs a min or a max")
        super().__post_init__()

    def default_name(self) -> str:
        return f"{self.column}_in_range"


@dataclass(frozen=True, kw_only=True)
class Matches(Expectation):
    """The whole value matches a regular expression (RE2 syntax); a null passes."""

    column: str
    pattern: str

    def default_name(self) -> str:
        return f"{self.column}_matches"


@dataclass(frozen=True, kw_only=True)
class Predicate(Expectation):
    """Free SQL over the row's columns; a row violates it when it is false (null passes, like CHECK)."""

    sql: str

    def default_name(self) -> str:
        return "predicate"


@dataclass(frozen=True, kw_only=True)
class References(Expectation):
    """Every non-null `column` exists as `to_column` in the table `to_table` (`layer.name`)."""

    column: str
    to_table: str
    to_column: str

    def default_name(self) -> str:
        return f"{self.column}_exists_in_{self.to_table.split('.')[-1]}"


@dataclass(frozen=True, kw_only=True)
class Unique(Expectation):
    """No two rows share `columns`: within the rows a run writes, and between them and the rows
    already in the table (one scan of the key columns per run)."""

    row_level: ClassVar[bool] = False

    columns: tuple[str, ...]

    def default_name(self) -> str:
        return "_".join(self.columns) + "_unique"


@dataclass(frozen=True, kw_only=True)
class Completeness(Expectation):
    """At least `min_pct` % of the rows have every one of `columns` non-null."""

    row_level: ClassVar[bool] = False

    columns: tuple[str, ...]
    min_pct: float = 100.0
    warn_if: str | None = None  # the metric is judged against min_pct, not a count

    def default_name(self) -> str:
        return "_".join(self.columns) + "_complete"


@dataclass(frozen=True, kw_only=True)
class RowCount(Expectation):
    """The rows a run writes are within [min, max], and (`max_change_pct`) the table's row count
    changed by at most that % against the previous run."""

    row_level: ClassVar[bool] = False

    min: int | None = None
    max: int | None = None
    max_change_pct: float | None = None
    warn_if: str | None = None

    def __post_init__(self) -> None:
        if self.min is None and self.max is None and self.max_change_pct is None:
            raise ValueError("row_count needs min, max or max_change_pct")
        super().__post_init__()

    def default_name(self) -> str:
        return "row_count"


@dataclass(frozen=True, kw_only=True)
class Freshness(Expectation):
    """The newest `column` is at most `max_age_s` behind the clock: the lake's data clock (the
    newest event of any source) by default, or the wall clock (`against="now"`)."""

    row_level: ClassVar[bool] = False

    column: str
    max_age_s: float
    against: Literal["data_clock", "now"] = "data_clock"
    warn_if: str | None = None

    def default_name(self) -> str:
        return f"{self.column}_fresh"


@dataclass(frozen=True, kw_only=True)
class Schema(Expectation):
    """The rows written have exactly the table's declared columns and types (added to every model)."""

    row_level: ClassVar[bool] = False

    warn_if: str | None = None
    action: Action = "fail"

    def default_name(self) -> str:
        return "schema"


@dataclass(frozen=True, kw_only=True)
class Finite(Expectation):
    """A double column holds no NaN or ±infinity (added to every double column of every model)."""

    column: str

    def default_name(self) -> str:
        return f"{self.column}_finite"


class Options(TypedDict, total=False):
    name: str
    action: Action
    warn_if: str | None
    fail_if: str | None
    description: str


def not_null(*columns: str, **kw: Unpack[Options]) -> NotNull:
    return NotNull(columns=columns, **kw)


def accepted_values(column: str, values: tuple[str | int | float | bool, ...], *, allow_null: bool = False,
                    **kw: Unpack[Options]) -> AcceptedValues:
    return AcceptedValues(column=column, values=tuple(values), allow_null=allow_null, **kw)


def in_range(column: str, *, min: float | str | None = None, max: float | str | None = None,
             min_inclusive: bool = True, max_inclusive: bool = True, **kw: Unpack[Options]) -> InRange:
    return InRange(column=column, min=min, max=max, min_inclusive=min_inclusive, max_inclusive=max_inclusive, **kw)


def matches(column: str, pattern: str, **kw: Unpack[Options]) -> Matches:
    return Matches(column=column, pattern=pattern, **kw)


def predicate(sql: str, **kw: Unpack[Options]) -> Predicate:
    return Predicate(sql=sql, **kw)


def references(column: str, to: str, **kw: Unpack[Options]) -> References:
    """`references("user_id", "silver.users.user_id")`."""
    table, _, to_column = to.rpartition(".")
    return References(column=column, to_table=table, to_column=to_column, **kw)


def unique(*columns: str, **kw: Unpack[Options]) -> Unique:
    return Unique(columns=columns, **kw)


def completeness(*columns: str, min_pct: float, **kw: Unpack[Options]) -> Completeness:
    return Completeness(columns=columns, min_pct=min_pct, **kw)


def row_count(*, min: int | None = None, max: int | None = None,
              max_change_pct: float | None = None, **kw: Unpack[Options]) -> RowCount:
    return RowCount(min=min, max=max, max_change_pct=max_change_pct, **kw)


def freshness(column: str, max_age_s: float, *, against: Literal["data_clock", "now"] = "data_clock",
              **kw: Unpack[Options]) -> Freshness:
    return Freshness(column=column, max_age_s=max_age_s, against=against, **kw)
