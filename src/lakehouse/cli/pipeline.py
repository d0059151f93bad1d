"""simulate, ingest, transform and demo: the pipeline commands."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from lakehouse.cli import startup
from lakehouse.cli.render import (
    console,
    ingest_summary,
    progress_bar,
    tables_table,
    transform_summary,
)
from lakehouse.config import SOURCES
from lakehouse.exceptions import InputError
from lakehouse.results import SimulationReport
from lakehouse.service import Lakehouse

SourceOpt = Annotated[
    list[str] | None,
    typer.Option("--only", help=f"Limit to these sources (repeatable): {', '.join(SOURCES)}."),
]


def _sim_table(report: SimulationReport) -> Table:
    t = Table(title=f"Simulated {report.records:,} records in {report.seconds:.1f} s (seed {report.seed})",
              header_style="bold")
    for col in ("source", "records", "→ bronze", "→ quarantine", "bad mixed in"):
        t.add_column(col, justify="left" if col == "source" else "right", no_wrap=True)
    for name, s in report.sources.items():
        t.add_row(name, f"{s.records:,}", f"{s.expected_bronze:,}", f"{s.expected_quarantine:,}",
                  f"{sum(v for k, v in s.kinds.items() if k in BAD_KINDS):,}")
    return t


# Kinds that are records the lake must catch (late, out-of-order and duplicate records are good
# records delivered badly: they land in bronze and silver sorts them out).
BAD_KINDS = ("malformed_json", "missing_required", "wrong_type", "unknown_field")


def _kinds_table(report: SimulationReport) -> Table:
    t = Table(title="Injected records, all sources", header_style="bold")
    t.add_column("kind", no_wrap=True)
    t.add_column("records", justify="right", no_wrap=True)
    kinds = list(next(iter(report.sources.values())).kinds) if report.sources else []
    for k in kinds:
        t.add_row(k.replace("_", " "), f"{sum(s.kinds[k] for s in report.sources.values()):,}")
    return t


def register(app: typer.Typer) -> None:
    @app.command()
    def simulate(
        events: Annotated[int, typer.Option(help="Records to produce across the five sources.")] = 150_000,
        days: Annotated[int, typer.Option(help="Days of event time to spread them over.")] = 7,
        start: Annotated[
            datetime | None, typer.Option(help="First day (UTC). Default: today minus --days.")
        ] = None,
        seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same records.")] = 42,
        bad_fraction: Annotated[float, typer.Option(help="Share of bad records of each kind combined.")] = 0.01,
        sink: Annotated[str, typer.Option(help="files (landing zone) or kafka.")] = "files",
        rate: Annotated[int | None, typer.Option(help="Produce this many records per second instead.")] = None,
        duration: Annotated[float, typer.Option(help="Seconds to run with --rate.")] = 10.0,
        only: SourceOpt = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    ) -> None:
        """Generate the five sources (app events, clickstream, CDC, transactions, service logs)."""
        lh = Lakehouse()
        report = lh.simulate(
            events=events, days=days, start=start, seed=seed, bad_fraction=bad_fraction, sink=sink,
            rate=rate, duration_s=duration, sources=only,
        )
        if as_json:
            console.print_json(json.dumps(report.to_dict(), default=str))
        else:
            console.print(_sim_table(report))
            console.print(_kinds_table(report))

    @app.command()
    def ingest(
        source: Annotated[str, typer.Option(help="files (landing zone) or kafka.")] = "files",
        only: SourceOpt = None,
        follow: Annotated[
            bool,
            typer.Option(help="Kafka: keep consuming (and retrying an unreachable broker) until SIGINT/SIGTERM."),
        ] = False,
        create_topics: Annotated[
            bool | None,
            typer.Option("--create-topics", help="Kafka: create requested topics that do not exist."),
        ] = None,
        fail_on_data_loss: Annotated[
            bool | None,
            typer.Option(
                "--fail-on-data-loss/--no-fail-on-data-loss",
                help="Kafka: a partition that no longer continues from bronze's offset fails the run "
                "(default), or restarts at its oldest message with the skip recorded.",
                show_default=False,
            ),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the run report as JSON.")] = False,
    ) -> None:
        """Load new landing files (or Kafka messages) into bronze, exactly once."""
        if source != "kafka":  # a Kafka run takes a signal held at start-up over instead
            startup.release()
        lh = Lakehouse()
        if follow and source != "kafka":
            raise InputError("--follow needs --source kafka")
        if source != "kafka" and (create_topics is not None or fail_on_data_loss is not None):
            raise InputError("--create-topics and --fail-on-data-loss/--no-fail-on-data-loss need --source kafka")
        with progress_bar(not as_json) as bar:
            report = lh.ingest(
                source=source, sources=only, progress=bar, follow=follow,
                create_topics=create_topics, fail_on_data_loss=fail_on_data_loss,
            )
        if as_json:
            console.print_json(json.dumps(report.to_dict(), default=str))
        else:
            console.print(ingest_summary(report))

    @app.command()
    def transform(
        layer: Annotated[str | None, typer.Option(help="silver or gold (default: both, in order).")] = None,
        full_refresh: Annotated[bool, typer.Option(help="Rebuild from all input instead of new input only.")] = False,
        engine: Annotated[
            str | None, typer.Option(help="duckdb or spark (default: LAKEHOUSE_ENGINE, else duckdb).")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the run reports as JSON.")] = False,
    ) -> None:
        """Build silver and gold from bronze, incrementally by default."""
        lh = Lakehouse()
        with progress_bar(not as_json) as bar:
            reports = lh.transform(layer=layer, full_refresh=full_refresh, progress=bar, engine=engine)
        if as_json:
            console.print_json(json.dumps([r.to_dict() for r in reports], default=str))
        else:
            for r in reports:
                console.print(transform_summary(r))

    @app.command()
    def demo(
        events: Annotated[int, typer.Option(help="Records to simulate.")] = 150_000,
        days: Annotated[int, typer.Option(help="Days of event time.")] = 7,
        seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    ) -> None:
        """Simulate, ingest, transform and summarise: the whole lakehouse on the embedded default."""
        lh = Lakehouse()
        console.rule("[bold]1. simulate → landing zone")
        sim = lh.simulate(events=events, days=days, seed=seed)
        console.print(_sim_table(sim))
        console.print(_kinds_table(sim))
        console.rule("[bold]2. ingest → bronze")
        with progress_bar() as bar:
            console.print(ingest_summary(lh.ingest(progress=bar)))
        console.rule("[bold]3. transform → silver, gold")
        with progress_bar() as bar:
            for r in lh.transform(progress=bar):
                console.print(transform_summary(r))
        console.rule("[bold]4. the lake")
        console.print(tables_table(lh.tables()))
        _print_kpis(lh)


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def _print_kpis(lh: Lakehouse) -> None:
    s = lh.summary()
    seg = Table(title="User segments", header_style="bold")
    for col in ("segment", "users", "share"):
        seg.add_column(col, justify="left" if col == "segment" else "right")
    total = sum(s.segments.values()) or 1
    for name, users in s.segments.items():
        seg.add_row(name, f"{users:,}", f"{100 * users / total:.1f}%")
    console.print(seg)
    daily = Table(title="Daily summary (latest days)", header_style="bold")
    cols = ("summary_date", "daily_users", "new_users", "total_events", "sessions", "revenue")
    for col in cols:
        daily.add_column(col, justify="left" if col == "summary_date" else "right")
    for d in s.daily:
        daily.add_row(*(_cell(getattr(d, c)) for c in cols))
    console.print(daily)
    h = s.health
    console.print(
        f"Hours by health: [green]{h.get('healthy', 0)} healthy[/], [yellow]{h.get('degraded', 0)} degraded[/], "
        f"[red]{h.get('critical', 0)} critical[/]  ·  quarantined records: {s.quarantined:,}  ·  "
        f"duplicates removed: {s.duplicates_removed:,}"
    )
