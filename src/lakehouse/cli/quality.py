"""`lakehouse quality [TABLE] [--history]`: the lake's quality verdicts, from the metadata store."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.table import Table

from lakehouse.access import ANONYMOUS_ADMIN
from lakehouse.cli.render import console
from lakehouse.service import Lakehouse

_STYLE = {"pass": "green", "passing": "green", "warn": "yellow", "warning": "yellow", "fail": "red",
          "failing": "red", "error": "red"}


def _styled(word: str) -> str:
    return f"[{_STYLE.get(word, 'white')}]{word}[/]"


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:,}"


def overview_table(tables: list[dict[str, Any]]) -> Table:
    t = Table(title="Data quality (latest run per table)", header_style="bold")
    for col in ("table", "status", "score", "pass", "warn", "fail", "error"):
        t.add_column(col, justify="left" if col in ("table", "status") else "right", no_wrap=True)
    for r in tables:
        c = r["checks"]
        t.add_row(r["table"], _styled(r["status"]), f"{r['score']:.0f}", str(c["pass"]), str(c["warn"]),
                  str(c["fail"]), str(c["error"]))
    return t


def checks_table(table: str, verdict: dict[str, Any]) -> Table:
    t = Table(title=f"{table}: {verdict['status']} (score {verdict['score']:.0f}, run {verdict['run_id']})",
              header_style="bold")
    for col in ("check", "action", "outcome", "failing", "checked", "threshold"):
        t.add_column(col, justify="right" if col in ("failing", "checked") else "left", no_wrap=col != "threshold")
    for c in verdict["checks"]:
        failing = _num(c["failing_rows"]) if c["kind"] not in ("Completeness", "RowCount", "Freshness") else _num(c["metric"])
        t.add_row(c["check"], c["action"], _styled(c["outcome"]), failing, _num(c["rows_checked"]),
                  c["threshold"] or (c["error"] or "")[:40])
    return t


def history_table(table: str, runs: list[dict[str, Any]]) -> Table:
    t = Table(title=f"{table}: quality over its last {len(runs)} checked runs", header_style="bold")
    for col in ("at (UTC)", "run", "status", "score", "not passing"):
        t.add_column(col, no_wrap=col != "not passing")
    for r in runs:
        bad = [f"{c['check']}={c['outcome']}" for c in r["checks"] if c["outcome"] != "pass"]
        t.add_row(r["at"][:16].replace("T", " "), str(r["run_id"]), _styled(r["status"]), f"{r['score']:.0f}",
                  ", ".join(bad) or "-")
    return t


def _show(value: Any, as_json: bool, table: Callable[[Any], Table]) -> None:
    if as_json:
        console.print_json(json.dumps(value))
    else:
        console.print(table(value))


def register(app: typer.Typer) -> None:
    @app.command()
    def quality(
        table: Annotated[str | None, typer.Argument(help="A table (e.g. silver.app_events); all tables if left out.")] = None,
        history: Annotated[bool, typer.Option("--history", help="The table's verdicts over its last runs.")] = False,
        runs: Annotated[int, typer.Option(min=1, help="Runs to show with --history.")] = 20,
        as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
    ) -> None:
        """Show the latest quality checks: per table, or one table's checks (with --history, over time)."""
        lh = Lakehouse()
        if table is None:
            if history:
                raise typer.BadParameter("--history needs a TABLE", param_hint="--history")
            tables = lh.catalog.quality_overview(ANONYMOUS_ADMIN)
            _show(tables, as_json, overview_table)
            return
        name = lh.resolve(table).fqn
        if history:
            past = lh.catalog.quality_history(name, runs=runs)
            _show(past, as_json, lambda p: history_table(name, p))
            return
        verdict = lh.catalog.quality(name)
        if verdict is None:
            console.print(f"no quality results for {name} yet (run `lakehouse transform`)")
            raise typer.Exit(1)
        _show(verdict, as_json, lambda v: checks_table(name, v))
