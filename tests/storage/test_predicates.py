"""The predicates the store hands to delta-rs (`storage/predicates.py`), on real Delta tables.

Retention deletes with `in_list`, a replace overwrites the rows `in_list` matches: whatever
the values hold (quotes, backslashes, SQL punctuation, any Unicode), the predicate must match
exactly the rows it names, no more, no fewer. Hypothesis draws the values.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakehouse.contract import TableId
from lakehouse.storage.base import PartitionFilter
from lakehouse.storage.delta import DeltaStore
from lakehouse.storage.predicates import before, in_list

from support import make_settings

TABLE = TableId("silver", "users_cdc_state")
PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SQLISH = st.sampled_from(["'", "''", '"', "\\", ";", "--", "/*", "%", "_", " ", "\n", "é", "🙂", "\u2028", "a", "b"])
texts = st.lists(st.one_of(SQLISH, st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")),
                 max_size=8).map("".join)


def _table(values: list[str]) -> pa.Table:
    return pa.table({"name": pa.array(values, pa.string()), "row_no": pa.array(range(len(values)), pa.int64())})


def _left(store: DeltaStore) -> list[int]:
    return sorted(store.dataset(TABLE).to_table(columns=["row_no"]).column(0).to_pylist())


@PROPERTY
@given(values=st.lists(texts, min_size=1, max_size=10), extra=st.lists(texts, max_size=3), data=st.data())
def test_delete_in_list_removes_exactly_the_rows_named(values: list[str], extra: list[str], data: st.DataObject) -> None:
    chosen = data.draw(st.lists(st.sampled_from(values), max_size=4)) + extra
    with tempfile.TemporaryDirectory() as root:
        store = DeltaStore(make_settings(Path(root)))
        store.append(TABLE, _table(values))
        store.delete(TABLE, in_list("name", chosen))
        assert _left(store) == [i for i, v in enumerate(values) if v not in chosen]


@PROPERTY
@given(values=st.lists(texts, min_size=1, max_size=10), bound=texts)
def test_delete_before_removes_exactly_the_smaller_values(values: list[str], bound: str) -> None:
    # Compared as UTF-8 bytes, which orders as Python orders code points.
    with tempfile.TemporaryDirectory() as root:
        store = DeltaStore(make_settings(Path(root)))
        store.append(TABLE, _table(values))
        store.delete(TABLE, before("name", bound))
        assert _left(store) == [i for i, v in enumerate(values) if not v < bound]


@PROPERTY
@given(values=st.lists(texts, min_size=1, max_size=10), data=st.data())
def test_replace_where_overwrites_exactly_the_rows_named(values: list[str], data: st.DataObject) -> None:
    chosen = tuple(data.draw(st.lists(st.sampled_from(values), min_size=1, max_size=3)))
    with tempfile.TemporaryDirectory() as root:
        store = DeltaStore(make_settings(Path(root)))
        store.append(TABLE, _table(values))
        new = pa.table({"name": pa.array([chosen[0]], pa.string()), "row_no": pa.array([-1], pa.int64())})
        store.replace(TABLE, new, where=PartitionFilter("name", chosen))
        assert _left(store) == [-1, *(i for i, v in enumerate(values) if v not in chosen)]


def test_an_empty_list_names_nothing() -> None:
    assert in_list("name", []) == "FALSE"
