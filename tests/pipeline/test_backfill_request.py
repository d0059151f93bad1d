"""A backfill request (`--from`, `--to`, `--tables`) is checked before any work (`Backfill.check`).

For any two dates and any list of names — silver and gold tables in any spelling, bronze
tables, unknown names — the request is refused with one InputError exactly when the range is
backwards, longer than MAX_DAYS, or names something that is not a silver or gold model;
otherwise it selects the named models (all of silver and gold when none are named), each
once, in the order the models run.
"""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from lakehouse.contract import REGISTRY
from lakehouse.exceptions import InputError
from lakehouse.pipeline.backfill import MAX_DAYS, Backfill
from lakehouse.pipeline.registry import load_models

RUN_ORDER = [m.table for m in load_models() if m.table.layer in ("silver", "gold")]
MODELS = set(RUN_ORDER)
NAMES = sorted(REGISTRY.aliases)  # every spelling of every table, bronze included
dates = st.dates(min_value=date(1990, 1, 1), max_value=date(2040, 12, 31))


@settings(max_examples=300, deadline=None)
@given(a=dates, b=dates, tables=st.one_of(
    st.none(), st.lists(st.one_of(st.sampled_from(NAMES), st.sampled_from(NAMES).map(str.upper), st.text(max_size=12)),
                        max_size=4)))
def test_a_request_is_refused_exactly_when_it_is_wrong(a: date, b: date, tables: list[str] | None) -> None:
    ids = [REGISTRY.aliases.get(n.strip().strip('"').lower()) for n in tables or []]
    wrong = a > b or (b - a).days + 1 > MAX_DAYS or any(t is None or t not in MODELS for t in ids)
    try:
        models, named = Backfill.check(a, b, tables)
    except InputError as exc:
        outcome: object = ("refused", "\n" in exc.message)
    else:
        outcome = ([m.table for m in models], named)
    wanted = {t for t in ids if t is not None}
    expected = ("refused", False) if wrong else (
        [t for t in RUN_ORDER if not tables or t in wanted], wanted if tables else set())
    assert outcome == expected
