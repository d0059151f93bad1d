"""Shared fixtures: a lake in a temp dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse.config import Settings
from lakehouse.service import Lakehouse

from support import make_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "lake")


@pytest.fixture
def lh(settings: Settings) -> Lakehouse:
    return Lakehouse(settings)
