"""Each expectation type on passing and failing batches, thresholds at their boundary, actions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lakehouse.contract import Column
from lakehouse.contract.expectations import (
    Finite,
    Schema,
    Threshold,
    accepted_values,
    completeness,
    freshness,
    in_range,
    matches,
    not_null,
    predicate,
    references,
    row_count,
    unique,
)
from lakehouse.exceptions import QualityGateError
from lakehouse.pipeline.engines import Engine
from lakehouse.quality import QUARANTINE, Validator
from lakehouse.results import CheckResult

Check = Callable[..., tuple[Validator, str]]


def result(v: Validator, name: str) -> CheckResult:
    found = [r for r in v.results if r.check == name]
    assert len(found) == 1, f"{name}: {[r.check for r in v.results]}"
    return found[0]


def table(**cols: list[object]) -> pa.Table:
    return pa.table(cols)


# -- row checks -----------------------------------------------------------------------------------
ROW_CASES = [
    ("not_null", not_null("a", "b"), {"a": [1, None, 3, 4], "b": ["x", "y", None, "z"]}, 2),
    ("in_set", accepted_values("a", ("x", "y")), {"a": ["x", "y", "q", None]}, 2),
    ("in_set_nulls_ok", accepted_values("a", ("x",), allow_null=True), {"a": ["x", None, "q"]}, 1),
    ("range", in_range("a", min=0, max=10), {"a": [0, 10, -1, 11, None]}, 2),
    ("range_exclusive", in_range("a", min=0, max=10, min_inclusive=False, max_inclusive=False), {"a": [0, 5, 10]}, 2),
    ("range_min_only", in_range("a", min=5), {"a": [4.99, 5.0, 100.0]}, 1),
    ("matches", matches("a", "[a-z]+@[a-z]+"), {"a": ["ab@cd", "nope", "x@y@z", None]}, 2),
    ("predicate", predicate("a < b"), {"a": [1, 5, None], "b": [2, 3, 1]}, 1),
    ("finite", Finite(column="a"), {"a": [1.0, float("nan"), float("inf"), -float("inf"), None]}, 3),
]


@pytest.mark.parametrize(("case", "expectation", "data", "failing"), ROW_CASES, ids=[c[0] for c in ROW_CASES])
def test_row_checks_count_exactly_the_violating_rows(
    check: Check, case: str, expectation: object, data: dict[str, list[object]], failing: int
) -> None:
    v, _ = check(table(**data), expectation)
    r = result(v, expectation.name)  # type: ignore[attr-defined]
    assert r.failing_rows == failing
    assert r.rows_checked == len(next(iter(data.values())))
    assert r.outcome == ("warn" if failing else "pass")
    assert len(r.sample) == min(failing, 5)


def test_a_passing_batch_passes_every_check(check: Check) -> None:
    data = table(a=[1, 2, 3], b=["x", "y", "z"])
    v, _ = check(data, not_null("a"), accepted_values("b", ("x", "y", "z")), in_range("a", min=1, max=3),
                 predicate("a > 0"), unique("a"), completeness("a", "b", min_pct=100), row_count(min=3, max=3))
    assert {r.check: r.outcome for r in v.results} == dict.fromkeys(
        ["a_not_null", "b_in_set", "a_in_range", "predicate", "a_unique", "a_b_complete", "row_count", "schema"], "pass"
    )


def test_references_finds_keys_missing_from_the_other_table(check: Check, engine: Engine) -> None:
    from lakehouse.contract import TableId

    engine.bind_arrow(TableId("silver", "users"), table(user_id=["u1", "u2"]))
    v, _ = check(table(user_id=["u1", "u2", "u3", None]), references("user_id", "silver.users.user_id"))
    r = result(v, "user_id_exists_in_users")
    assert (r.failing_rows, r.outcome) == (1, "warn")
    assert r.sample == [{"user_id": "u3"}]


# -- aggregate checks -----------------------------------------------------------------------------
def test_unique_counts_the_rows_of_duplicated_keys(check: Check) -> None:
    v, _ = check(table(k=["a", "a", "b", "c", "c", "c"], n=[1, 2, 3, 4, 5, 6]), unique("k"))
    r = result(v, "k_unique")
    assert (r.failing_rows, r.outcome) == (5, "warn")
    v, _ = check(table(k=["a", "b"], j=[1, 1]), unique("k", "j"))
    assert result(v, "k_j_unique").outcome == "pass"


def test_completeness_is_a_percentage_judged_against_its_minimum(check: Check) -> None:
    data = table(a=[1, None, 3, 4], b=["x", "y", "z", None])  # 2 of 4 rows complete
    v, _ = check(data, completeness("a", "b", min_pct=50))
    assert (result(v, "a_b_complete").metric, result(v, "a_b_complete").outcome) == (50.0, "pass")
    v, _ = check(data, completeness("a", "b", min_pct=50.1))
    assert result(v, "a_b_complete").outcome == "warn"


def test_row_count_bounds(check: Check) -> None:
    data = table(a=[1, 2, 3])
    assert result(check(data, row_count(min=3))[0], "row_count").outcome == "pass"
    assert result(check(data, row_count(min=4))[0], "row_count").outcome == "warn"
    assert result(check(data, row_count(max=2))[0], "row_count").outcome == "warn"
    with pytest.raises(QualityGateError):
        check(data, row_count(min=4, action="fail"))


def test_freshness_against_a_given_now(check: Check) -> None:
    now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    data = table(t=pa.array([now - timedelta(minutes=30), now - timedelta(hours=3)], pa.timestamp("us", "UTC")))
    v, _ = check(data, freshness("t", max_age_s=3600, against="now"), clock=lambda: now)
    assert (result(v, "t_fresh").outcome, result(v, "t_fresh").metric) == ("pass", 1800.0)
    v, _ = check(data, freshness("t", max_age_s=1799, against="now"), clock=lambda: now)
    assert result(v, "t_fresh").outcome == "warn"
    with pytest.raises(QualityGateError):
        check(data, freshness("t", max_age_s=1799, against="now", action="fail"), clock=lambda: now)


def test_freshness_against_the_data_clock_uses_bronze_statistics(check: Check, engine: Engine) -> None:
    from lakehouse.contract import TableId

    newest = datetime(2026, 5, 1, 12, tzinfo=UTC)
    events = pa.table({"timestamp": pa.array([newest - timedelta(days=1), newest], pa.timestamp("us", "UTC"))})
    engine.store.append(TableId("bronze", "app_events"), events)
    data = table(t=pa.array([newest - timedelta(hours=2)], pa.timestamp("us", "UTC")))
    v, _ = check(data, freshness("t", max_age_s=3600))
    assert (result(v, "t_fresh").metric, result(v, "t_fresh").outcome) == (7200.0, "warn")


def test_schema_check_catches_a_batch_that_differs_from_the_declaration(check: Check) -> None:
    declared = (Column("a", "int64", "A."), Column("b", "string", "B."))
    with pytest.raises(QualityGateError, match="schema"):
        check(table(a=[1], c=["x"]), columns=declared)
    with pytest.raises(QualityGateError, match="schema"):
        check(table(a=["1"], b=["x"]), columns=declared)  # a is text, declared int64
    v, _ = check(table(a=[1], b=["x"]), columns=declared)
    assert result(v, "schema").outcome == "pass"


# -- thresholds and actions -----------------------------------------------------------------------
@given(failing=st.integers(0, 1000), checked=st.integers(0, 1000),
       value=st.integers(0, 10_000).map(lambda x: x / 100), percent=st.booleans(), inclusive=st.booleans())
def test_threshold_is_crossed_exactly_when_the_measure_passes_it(
    failing: int, checked: int, value: float, percent: bool, inclusive: bool
) -> None:
    t = Threshold(">=" if inclusive else ">", value, percent)
    assert Threshold.parse(str(t)) == t
    measure = (100.0 * failing / checked if checked else 0.0) if percent else float(failing)
    assert t.crossed(failing, checked) == (measure >= value if inclusive else measure > value)


@pytest.mark.parametrize("bad", ["10", "< 5", "> x", ">= -1", ">10%%", ""])
def test_a_malformed_threshold_is_refused_when_declared(bad: str) -> None:
    with pytest.raises(ValueError):
        not_null("a", warn_if=bad)


def test_warn_and_fail_thresholds_at_their_boundary(check: Check) -> None:
    data = table(a=[None, None, 1, 2, 3, 4, 5, 6, 7, 8])  # 2 of 10 null = 20%
    v, _ = check(data, not_null("a", warn_if="> 1", fail_if="> 20%"))
    assert result(v, "a_not_null").outcome == "warn"  # 2 > 1, but 20% is not > 20%
    with pytest.raises(QualityGateError) as e:
        check(data, not_null("a", warn_if="> 1", fail_if=">= 20%"))
    assert e.value.check == "a_not_null" and "2 of 10 rows" in str(e.value)
    v, _ = check(data, not_null("a", warn_if="> 2"))
    assert result(v, "a_not_null").outcome == "pass"


def test_fail_action_stops_on_any_violation_by_default(check: Check) -> None:
    with pytest.raises(QualityGateError):
        check(table(a=[1, None]), not_null("a", action="fail"))
    v, _ = check(table(a=[1, 2]), not_null("a", action="fail"))
    assert result(v, "a_not_null").outcome == "pass"


def test_drop_removes_exactly_the_violating_rows_and_quarantines_them(check: Check, engine: Engine) -> None:
    data = table(a=[1, -1, 2, -5, None], b=["k1", "k2", "k3", "k4", "k5"])
    _, relation = check(data, in_range("a", min=0, action="drop", name="a_not_negative"), txns={"t<-in": 7})
    kept = engine.rows(f"SELECT b FROM {relation} ORDER BY b")
    assert kept == [("k1",), ("k3",), ("k5",)]
    q = engine.store.dataset(QUARANTINE).to_table().to_pylist()
    assert sorted(r["check"] for r in q) == ["a_not_negative"] * 2
    assert {r["run_id"] for r in q} == {"run-1"} and {r["table"] for r in q} == {"gold.daily_summary"}
    assert sorted(__import__("json").loads(r["row"])["b"] for r in q) == ["k2", "k4"]
    assert len(kept) + len(q) == data.num_rows
    # the same batch again (a rerun after a crash before the table's commit): not quarantined twice
    check(data, in_range("a", min=0, action="drop", name="a_not_negative"), txns={"t<-in": 7})
    assert engine.store.snapshot(QUARANTINE).rows == 2


def test_a_check_that_cannot_run_is_an_error_outcome_not_a_crash(check: Check) -> None:
    v, _ = check(table(a=[1]), predicate("no_such_column > 1", name="broken"))
    r = result(v, "broken")
    assert r.outcome == "error" and r.error
    with pytest.raises(QualityGateError):
        check(table(a=[1]), predicate("no_such_column > 1", name="broken_gate", action="fail"))


def test_warn_row_checks_flag_rows_when_the_table_declares_quality_columns(check: Check, engine: Engine) -> None:
    cols = (Column("a", "int64", "A."), Column("is_valid", "bool", "ok"),
            Column("quality_issues", "list<string>", "issues"))
    _, relation = check(table(a=[1, -1, 50]), in_range("a", min=0, name="not_negative"),
                        in_range("a", max=10, name="small"), columns=cols)
    got = engine.rows(f"SELECT a, is_valid, quality_issues FROM {relation} ORDER BY a")
    assert got == [(-1, False, ["not_negative"]), (1, True, []), (50, False, ["small"])]


def test_declarations_are_checked_when_made() -> None:
    with pytest.raises(ValueError, match="only row checks"):
        unique("a", action="drop")
    with pytest.raises(ValueError, match="needs a min or a max"):
        in_range("a")
    with pytest.raises(ValueError, match="lower_snake_case"):
        not_null("a", name="Bad Name")
    assert Schema().action == "fail"
