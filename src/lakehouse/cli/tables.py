"""tables, history: look at the lake."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from lakehouse.cli.render import console, tables_table
from lakehouse.service import Lakehouse


def register(app: typer.Typer) -> None:
    @app.command()
    def tables(
        layer: Annotated[str | None, typer.Option(help="bronze, silver or gold.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
    ) -> None:
        """List the lake's tables with rows, size and Delta version."""
        infos = Lakehouse().tables(layer)
        if as_json:
            console.print_json(json.dumps([
                {"table": i.table.fqn, "rows": i.rows, "files": i.files, "size_bytes": i.size_bytes,
                 "version": i.version, "last_modified": i.last_modified} for i in infos
            ], default=str))
        else:
            console.print(tables_table(infos))

    @app.command()
    def history(
        name: Annotated[str, typer.Argument(help="Table, e.g. gold.user_segments or user_segments_gold.")],
        limit: Annotated[int, typer.Option(help="Most recent versions to show.")] = 20,
    ) -> None:
        """Show a table's Delta versions: operation, time, rows written."""
        lh = Lakehouse()
        rows = lh.history(name, limit)
        t = Table(title=f"{lh.resolve(name).fqn} history", header_style="bold")
        for col in ("version", "timestamp", "operation", "rows added", "job"):
            t.add_column(col)
        for h in rows:
            t.add_row(
                str(h.version), h.timestamp.strftime("%Y-%m-%d %H:%M:%S") if h.timestamp else "-", h.operation,
                str(h.metrics.get("num_added_rows", h.metrics.get("num_target_rows_inserted", "-"))),
                h.metadata.get("lakehouse.job", "-"),
            )
        console.print(t)
