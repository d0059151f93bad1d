"""Simulate then ingest, for any size, span, seed, share of bad records and choice of sources.

The simulators count what they deliver and where each record must land; the file ingest must
agree exactly, per source (records received, rows in bronze, rows quarantined), including the
small runs where too few records leave no room for bad ones, or for a single session. A
second ingest finds nothing.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lakehouse.config import SOURCES
from lakehouse.service import Lakehouse

from support import by_source, make_settings

pytestmark = pytest.mark.slow  # left out of `make test-fast`

START = datetime(2026, 5, 1, tzinfo=UTC)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    events=st.one_of(st.integers(1, 80), st.integers(80, 4_000)),
    days=st.integers(1, 3),
    seed=st.integers(0, 2**31 - 1),
    bad=st.one_of(st.just(0.0), st.floats(0.0, 0.49)),
    sources=st.lists(st.sampled_from(SOURCES), min_size=1, unique=True),
)
@example(events=5, days=1, seed=1, bad=0.0, sources=list(SOURCES))  # too few for any session: crashed
def test_ingest_lands_exactly_what_the_simulation_counted(
    events: int, days: int, seed: int, bad: float, sources: list[str]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        lh = Lakehouse(make_settings(Path(tmp) / "lake"))
        try:
            sim = lh.simulate(events=events, days=days, start=START, seed=seed, bad_fraction=bad, sources=sources)
            got = by_source(lh.ingest().to_dict())
            again = lh.ingest()
        finally:
            lh.close()
    assert sorted(sim.sources) == sorted(sources)
    assert {s: (got[s]["received"], got[s]["bronze"], got[s]["quarantined"]) for s in sim.sources} == {
        s: (r.records, r.expected_bronze, r.expected_quarantine) for s, r in sim.sources.items()
    }
    assert (again.received, again.bronze, again.quarantined) == (0, 0, 0)
