"""Rendering for the CLI: Rich tables, progress bars and the one-line error format."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from lakehouse.reports import RunReport
from lakehouse.results import TableInfo, TransformResult

console = Console()
err_console = Console(stderr=True)


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Callable[[str, int, int], None]]:
    """Yield a callback (label, done, total) that drives one bar per label."""
    if not enabled or not console.is_terminal:
        yield lambda label, done, total: None
        return
    bars: dict[str, TaskID] = {}
    with Progress(
        TextColumn("{task.description:<28}"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
        TimeElapsedColumn(), console=console, transient=True,
    ) as prog:

        def update(label: str, done: int, total: int) -> None:
            if label not in bars:
                bars[label] = prog.add_task(label, total=max(total, 1))
            prog.update(bars[label], completed=done, total=max(total, 1))

        yield update


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def tables_table(infos: list[TableInfo], width: int | None = None) -> Table:
    """The lake's tables; the file count only where the terminal is wide enough for it."""
    wide = (width or console.width) >= 100
    t = Table(title="Lakehouse tables", header_style="bold")
    cols = ("table", "rows", *(("files",) if wide else ()), "size", "version", "updated (UTC)")
    for col in cols:
        t.add_column(col, justify="left" if col in ("table", "updated (UTC)") else "right", no_wrap=True)
    for i in infos:
        stamp = i.last_modified.strftime("%Y-%m-%d %H:%M:%S" if wide else "%m-%d %H:%M") if i.last_modified else "-"
        t.add_row(i.table.fqn, f"{i.rows:,}", *((str(i.files),) if wide else ()), human_bytes(i.size_bytes),
                  str(i.version), stamp)
    return t


def ingest_summary(report: RunReport) -> Table:
    kafka = report.details.get("mode") == "kafka"
    t = Table(title=f"Ingest from {'Kafka' if kafka else 'files'} ({report.duration_s:.1f} s)", header_style="bold")
    for col in ("source", "partitions" if kafka else "files", "received", "bronze", "quarantined", "balanced"):
        t.add_column(col, justify="left" if col == "source" else "right")
    for name, c in report.details.get("sources", {}).items():
        t.add_row(
            name, str(c.get("partitions", c["files"]) if kafka else c["files"]), f"{c['received']:,}", f"{c['bronze']:,}", f"{c['quarantined']:,}",
            "[green]yes[/]" if c["balanced"] else "[red]NO[/]",
        )
    return t


def transform_summary(report: TransformResult) -> Table:
    t = Table(title=f"{report.job} ({report.duration_s:.1f} s)", header_style="bold")
    for col in ("table", "mode", "rows in", "rows out", "version", "seconds"):
        t.add_column(col, justify="left" if col in ("table", "mode") else "right")
    for change in report.tables:
        m = report.model(change.table)
        t.add_row(
            change.table, m.mode if m else "-", f"{change.rows_in:,}", f"{change.rows_out:,}",
            "-" if change.version_after is None else str(change.version_after), f"{m.seconds if m else 0:.2f}",
        )
    return t
