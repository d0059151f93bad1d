"""Settings: the seed's variables are honoured; typos are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from lakehouse.config import Settings


def test_seed_environment_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LAKEHOUSE_BASE_PATH", str(tmp_path / "lake"))
    monkeypatch.setenv("BRONZE_PATH", str(tmp_path / "b"))
    monkeypatch.setenv("SILVER_PATH", str(tmp_path / "s"))
    monkeypatch.setenv("GOLD_PATH", str(tmp_path / "g"))
    monkeypatch.setenv("LOGS_DIR", str(tmp_path / "logs"))
    monkeypatch.setenv("LAKEHOUSE_KAFKA__PARTITIONS", "6")
    s = Settings()
    assert s.layer_path("bronze") == tmp_path / "b"
    assert s.layer_path("silver") == tmp_path / "s"
    assert s.layer_path("gold") == tmp_path / "g"
    assert s.logs_path == tmp_path / "logs"
    assert s.landing == tmp_path / "lake" / "landing"
    assert s.kafka.partitions == 6


def test_defaults_live_under_the_base_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("BRONZE_PATH", "SILVER_PATH", "GOLD_PATH", "LOGS_DIR"):
        monkeypatch.delenv(var, raising=False)
    s = Settings(base_path=tmp_path)
    assert s.layer_path("gold") == tmp_path / "gold"
    assert s.logs_path == tmp_path / "logs"


def test_typos_are_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(bronze_pth="/x")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Settings(kafka={"partitons": 3})  # type: ignore[arg-type]
