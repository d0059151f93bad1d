"""A short soak (`bench/soak.py`, ~40 s) against a real `lakehouse serve` subprocess: mixed
hostile and normal queries from several analyst clients and one admin leave the server alive and
answering, with no 5xx, no bypass returning rows, and the server's RSS plus its workers' below the
configured bound, sampled every 0.2 s throughout."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

SOAK = Path(__file__).resolve().parents[2] / "bench" / "soak.py"


def test_short_soak(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("lakehouse_soak", SOAK)
    assert spec is not None and spec.loader is not None
    soak: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(soak)
    code = soak.main(["--minutes", "0.6", "--clients", "4", "--events", "3000", "--worker-memory-mb", "512",
                      "--server-memory-mb", "768", "--timeout-s", "2", "--json"])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["failures"] == [] and summary["alive"] and summary["final_status"] == 200
    assert summary["samples"] > 50 and 0 < summary["peak_rss_mb"] <= summary["bound_mb"]
    assert summary["peak_server_rss_mb"] <= summary["server_bound_mb"]
    kinds = summary["by_kind_status"]
    # the mix really ran: killers were stopped (408/422), bypasses refused, normal queries answered
    assert sum(v for k, v in kinds.items() if k.startswith("killer:4")) > 5
    assert kinds.get("normal:200", 0) > 50 and not any(k.startswith("bypass:2") for k in kinds)
    assert code == 0
