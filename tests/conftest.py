"""Shared fixtures: a lake in a temp dir, and one lake built by the real pipeline per test run."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from lakehouse.config import Settings
from lakehouse.service import Lakehouse

from support import make_settings

BUILT_START = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "lake")


@pytest.fixture
def lh(settings: Settings) -> Lakehouse:
    return Lakehouse(settings)


@pytest.fixture(scope="session")
def built_lake(tmp_path_factory: pytest.TempPathFactory) -> Lakehouse:
    """A lake built by the real pipeline (simulate -> ingest -> transform, in two deliveries).

    Shared by every test of a run that only reads: do not write to it.
    """
    root = tmp_path_factory.mktemp("built") / "lake"
    lh = Lakehouse(make_settings(root))
    lh.simulate(events=30_000, days=4, start=BUILT_START, seed=11, bad_fraction=0.02)
    lh.ingest()
    lh.transform()
    lh.simulate(events=6_000, days=1, start=BUILT_START.replace(day=6), seed=12, bad_fraction=0.02)
    lh.ingest()
    lh.transform()
    return lh
