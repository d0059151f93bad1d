"""docs/models.md walks through adding silver.orders: its code must be the shipped code."""

from __future__ import annotations

import re
from pathlib import Path

from lakehouse.contract import REGISTRY, ModelSpec, expectations
from lakehouse.contract.silver import _silver, c
from lakehouse.pipeline.registry import model_for

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "models.md").read_text()


def block(lang: str) -> str:
    found = re.findall(rf"```{lang}\n(.*?)```", DOC, flags=re.S)
    assert len(found) == 1, f"docs/models.md should hold one {lang} block"
    return str(found[0])


def test_the_documented_entry_is_the_registry_entry() -> None:
    names = {"_silver": _silver, "c": c, "ModelSpec": ModelSpec, **vars(expectations)}
    spec = eval(block("python"), names)  # the doc's own code
    assert spec == REGISTRY.spec("silver.orders")


def test_the_documented_sql_is_the_model_sql() -> None:
    model = model_for("silver.orders")
    assert model is not None
    assert block("sql") == model.sql


def test_the_documented_kinds_are_all_the_kinds() -> None:
    from lakehouse.contract import MODEL_KINDS

    table = re.findall(r"^\| `([a-z_]+)` \|", DOC, flags=re.M)
    assert sorted(table) == sorted(MODEL_KINDS)
