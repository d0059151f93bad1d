"""retention, archive list|restore, optimize, vacuum: keep the lake healthy for months."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date
from typing import Annotated, Any

import typer
from rich.table import Table

from lakehouse.cli.render import console, human_bytes
from lakehouse.exceptions import InputError, LakehouseError
from lakehouse.service import Lakehouse

TableArg = Annotated[str | None, typer.Argument(help="One table (default: every table of the lake).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the run report as JSON.")]


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{option} '{value}' is not a date", hint="use YYYY-MM-DD") from None


def _json(obj: Any) -> None:
    console.print_json(json.dumps(obj if isinstance(obj, list | dict) else obj.to_dict(), default=str))


def _failed(result: Any) -> None:
    if result.status == "failed":
        raise LakehouseError(f"{result.job} failed: {result.error}", hint="the run report is in the logs directory")


def register(app: typer.Typer) -> None:
    @app.command()
    def retention(
        table: TableArg = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would expire; change nothing.")] = False,
        as_of: Annotated[str | None, typer.Option("--as-of", help="Apply retention as of this UTC date (default today).")] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Archive rows past their table's retention (by event date), delete them, then VACUUM."""
        result = Lakehouse().retention(table, dry_run=dry_run, as_of=_day(as_of, "--as-of"))
        if as_json:
            _json(result)
        else:
            t = Table(title=f"Retention as of {result.as_of}{' (dry run)' if dry_run else ''}", header_style="bold")
            for col in ("table", "days", "cutoff", "expired days", "rows archived", "rows deleted", "note"):
                t.add_column(col, justify="left" if col in ("table", "cutoff", "note") else "right", no_wrap=col == "table")
            for r in result.retention:
                if r.skipped == "not built":
                    continue
                note = r.error or r.skipped or ""
                if r.archive_expired:
                    note += f" {len(r.archive_expired)} archived day(s) expired"
                days = "-" if r.retention_days is None else f"{r.retention_days}{'*' if r.source == 'catalog' else ''}"
                t.add_row(r.table, days, r.cutoff or "-", str(len(r.expired_days)), f"{r.rows_archived:,}",
                          f"{r.rows_deleted:,}", note.strip())
            console.print(t)
            console.print("[dim]* set in the catalog[/]")
        _failed(result)

    archive = typer.Typer(help="List and restore archived rows.", no_args_is_help=True)
    app.add_typer(archive, name="archive")

    @archive.command("list")
    def archive_list(
        table: Annotated[str, typer.Argument(help="The table whose archive to list.")],
        as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
    ) -> None:
        """List a table's archived days: rows, size, source version, status."""
        parts = Lakehouse().archive_list(table)
        if as_json:
            _json([asdict(p) for p in parts])
            return
        t = Table(title=f"Archive of {table}", header_style="bold")
        for col in ("day", "rows", "size", "version", "status"):
            t.add_column(col, justify="left" if col in ("day", "status") else "right")
        for p in parts:
            t.add_row(p.day, f"{p.rows:,}", human_bytes(p.bytes), str(p.version), p.status)
        console.print(t)

    @archive.command("restore")
    def archive_restore(
        table: Annotated[str, typer.Argument(help="The table to restore into.")],
        first: Annotated[str, typer.Option("--from", help="First day to restore (YYYY-MM-DD).")],
        last: Annotated[str, typer.Option("--to", help="Last day to restore (YYYY-MM-DD).")],
        as_json: JsonOpt = False,
    ) -> None:
        """Put archived rows back into the table; rows it already holds are not added again."""
        result = Lakehouse().archive_restore(table, _day(first, "--from") or date.min, _day(last, "--to") or date.max)
        if as_json:
            _json(result)
        else:
            console.print(f"{result.target}: {result.rows_restored:,} row(s) restored from {len(result.parts)} "
                          f"archived day(s) ({result.rows_archived - result.rows_restored:,} already present)")

    @app.command()
    def optimize(
        table: TableArg = None,
        include_open: Annotated[bool, typer.Option("--include-open", help="Also compact today's partition (last).")] = False,
        as_json: JsonOpt = False,
    ) -> None:
        """Compact small files (Z-order where declared), closed partitions first; checkpoint; clean the log."""
        result = Lakehouse().optimize(table, include_open=include_open)
        if as_json:
            _json(result)
        else:
            t = Table(title=f"Optimize ({result.duration_s:.1f} s)", header_style="bold")
            for col in ("table", "files before", "files after", "partitions", "z-order", "log"):
                t.add_column(col, justify="left" if col in ("table", "z-order", "log") else "right", no_wrap=col == "table")
            for o in result.optimized:
                t.add_row(o.table, str(o.files_before), str(o.files_after), str(len(o.partitions_optimized)),
                          ", ".join(o.zorder) or "-", o.log_cleanup)
            console.print(t)
        _failed(result)

    @app.command()
    def vacuum(
        table: TableArg = None,
        retention_hours: Annotated[int | None, typer.Option(help="Keep this much history (default: the least safe).")] = None,
        force: Annotated[bool, typer.Option("--force", help="Allow going below the safe retention.")] = False,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would be removed.")] = False,
        as_json: JsonOpt = False,
    ) -> None:
        """Remove data files no version still in use refers to."""
        result = Lakehouse().vacuum(table, retention_hours=retention_hours, force=force, dry_run=dry_run)
        if as_json:
            _json(result)
        else:
            t = Table(title=f"Vacuum{' (dry run)' if dry_run else ''}", header_style="bold")
            for col in ("table", "kept hours", "files removed", "bounded by"):
                t.add_column(col, justify="left" if col in ("table", "bounded by") else "right", no_wrap=col == "table")
            for v in result.vacuumed:
                t.add_row(v.table, str(v.retention_hours), str(v.files_removed), v.floor_reason)
            console.print(t)


__all__ = ["register"]
