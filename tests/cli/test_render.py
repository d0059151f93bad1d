"""What the CLI prints fits an 80-column terminal: no column cut short, no header lost."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console
from rich.table import Table

from lakehouse.cli.pipeline import _kinds_table, _sim_table
from lakehouse.cli.render import ingest_summary, tables_table, transform_summary
from lakehouse.service import Lakehouse

from support import make_settings


def render(table: Table, width: int = 80) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(table)
    return console.export_text()


def headers(table: Table) -> list[str]:
    return [str(c.header) for c in table.columns]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    lh = Lakehouse(make_settings(Path(tmp_path_factory.mktemp("render")) / "lake"))
    sim = lh.simulate(events=6_000, days=2, start=datetime(2026, 1, 1, tzinfo=UTC))
    ingest = lh.ingest()
    silver, gold = lh.transform()
    return {"sim": sim, "ingest": ingest, "silver": silver, "gold": gold, "tables": lh.tables()}


def test_every_demo_table_fits_80_columns(runs: dict[str, object]) -> None:
    tables = [
        _sim_table(runs["sim"]),  # type: ignore[arg-type]
        _kinds_table(runs["sim"]),  # type: ignore[arg-type]
        ingest_summary(runs["ingest"]),  # type: ignore[arg-type]
        transform_summary(runs["silver"]),  # type: ignore[arg-type]
        transform_summary(runs["gold"]),  # type: ignore[arg-type]
        tables_table(runs["tables"], width=80),  # type: ignore[arg-type]
    ]
    for t in tables:
        text = render(t)
        assert "…" not in text, f"'{t.title}' is cut short at 80 columns:\n{text}"
        assert max(len(line) for line in text.splitlines()) <= 80
        for h in headers(t):
            assert h in text, f"header '{h}' of '{t.title}' is not shown whole"


def test_a_wide_terminal_also_shows_the_file_counts(runs: dict[str, object]) -> None:
    wide = tables_table(runs["tables"], width=120)  # type: ignore[arg-type]
    assert "files" in headers(wide)
    assert "files" not in headers(tables_table(runs["tables"], width=80))  # type: ignore[arg-type]
