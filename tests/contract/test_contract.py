"""The registry is the one declaration of every table: what the pipeline writes matches it."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse.contract import MODEL_KINDS, REGISTRY, Registry, TableSpec, resolve
from lakehouse.contract.arrow import same_type
from lakehouse.contract.docs import render
from lakehouse.contract.spec import Column
from lakehouse.exceptions import TableNotFoundError
from lakehouse.metadata.defaults import default_entries
from lakehouse.pipeline.registry import load_models
from lakehouse.service import Lakehouse

ROOT = Path(__file__).resolve().parents[2]

# Every table name the prototype's report uses, and the table it means.
SEED_NAMES = {
    "app_events_bronze": "bronze.app_events",
    "clickstream_bronze": "bronze.clickstream",
    "cdc_changes_bronze": "bronze.cdc_changes",
    "app_events_silver": "silver.app_events",
    "clickstream_silver": "silver.clickstream_sessions",
    "users_silver": "silver.users",
    "event_metrics_gold": "gold.event_metrics",
    "user_segments_gold": "gold.user_segments",
    "daily_summary_gold": "gold.daily_summary",
    "hourly_metrics_gold": "gold.hourly_metrics",
    "gold_user_segments": "gold.user_segments",
}


@pytest.mark.parametrize("spec", list(REGISTRY), ids=lambda s: s.fqn)
def test_every_built_table_has_exactly_its_declared_columns(built_lake: Lakehouse, spec: TableSpec) -> None:
    assert built_lake.store.exists(spec.id), f"{spec.fqn} was not built by the pipeline"
    schema = built_lake.store.schema(spec.id)
    assert schema.names == spec.column_names, f"{spec.fqn}: written columns differ from the declaration"
    wrong = [(c.name, c.type, str(schema.field(c.name).type)) for c in spec.columns
             if not same_type(c.type, schema.field(c.name).type)]
    assert not wrong, f"{spec.fqn}: columns of another type than declared: {wrong}"
    assert list(built_lake.store.snapshot(spec.id).partition_columns) == list(spec.partition_by)


def test_every_table_has_rows_after_the_pipeline(built_lake: Lakehouse) -> None:
    # silver.quarantine holds rows a `drop` check kept out; the shipped checks drop nothing by default.
    empty = [s.fqn for s in REGISTRY if built_lake.store.info(s.id).rows == 0]
    assert empty == ["silver.quarantine"]


@pytest.mark.parametrize(("seed", "fqn"), sorted(SEED_NAMES.items()))
def test_seed_names_resolve(seed: str, fqn: str) -> None:
    assert resolve(seed).fqn == fqn
    assert resolve(seed.upper()).fqn == fqn


def test_every_generated_name_resolves_to_its_table() -> None:
    for spec in REGISTRY:
        for name in (spec.fqn, f"{spec.name}_{spec.layer}", f"{spec.layer}_{spec.name}"):
            assert resolve(name) == spec.id or name in {a.lower() for s in REGISTRY for a in s.aliases}


def test_an_unknown_name_suggests_close_ones() -> None:
    with pytest.raises(TableNotFoundError) as e:
        resolve("gold.user_segment")
    assert "gold.user_segments" in e.value.suggestions


def test_models_are_exactly_the_tables_declared_with_a_model() -> None:
    assert {m.table for m in load_models()} == {s.id for s in REGISTRY if s.model is not None}
    assert {m.kind for m in load_models()} <= set(MODEL_KINDS)


def test_model_sql_files_hold_no_header_the_registry_owns() -> None:
    for m in load_models():
        first = m.sql.lstrip().splitlines()[0]
        assert not first.startswith("-- kind:"), f"{m.table}: kind is declared in the contract, not the SQL"


def test_docs_contract_is_generated_from_the_registry() -> None:
    assert (ROOT / "docs" / "contract.md").read_text() == render(), (
        "docs/contract.md is stale: python -m lakehouse.contract.docs > docs/contract.md"
    )


def test_catalog_defaults_come_from_the_registry() -> None:
    entries = {e.table_fqn: e for e in default_entries()}
    assert set(entries) == {s.fqn for s in REGISTRY}
    users = entries["silver.users"]
    assert users.pii_columns == ["email", "name"]
    assert users.description == REGISTRY.spec("silver.users").description
    assert users.column_descriptions["email"] == REGISTRY.spec("silver.users").column_index["email"].description


def test_a_declaration_is_checked_when_it_is_made() -> None:
    cols = (Column("a", "string", "A."),)
    with pytest.raises(ValueError, match="not a declared column"):
        TableSpec("silver", "x", "X.", cols, "me", None, partition_by=("b",))
    with pytest.raises(ValueError, match="duplicate column"):
        TableSpec("silver", "x", "X.", (*cols, *cols), "me", None)
    spec = TableSpec("silver", "x", "X.", cols, "me", None)
    with pytest.raises(ValueError, match="declared twice"):
        Registry([spec, spec])
    other = TableSpec("gold", "y", "Y.", cols, "me", None, aliases=("x_silver",))
    assert Registry([spec, other]).resolve("x_silver") == other.id  # an explicit alias wins
