"""scheduler, schedule, backfill and export airflow: running the lake unattended."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from lakehouse.cli.render import console, err_console
from lakehouse.exceptions import InputError
from lakehouse.service import Lakehouse

EXIT_NOT_DUE = 99  # what Airflow's BashOperator marks as skipped
# Exit codes go through sys.exit: with standalone_mode=False, click hands a typer.Exit's code back
# to main(), which does not pass it on.


def _when(value: str | None) -> str:
    return value[:16].replace("T", " ") if value else "-"


def schedule_table(status: dict[str, Any]) -> Table:
    lease = status["scheduler"]
    holder = f"scheduler: {lease['holder']}" if lease["holder"] else "no scheduler running"
    t = Table(title=f"Schedule ({status['timezone']}, catch-up {status['catchup']}; {holder})", header_style="bold")
    for col in ("job", "cron", "next run", "last run", "status"):
        t.add_column(col, no_wrap=True)
    for j in status["jobs"]:
        last = j["last_run"]
        t.add_row(j["job"], j["cron"], _when(j["next_run"]) if j["enabled"] else "-",
                  _when(last["started_at"]) if last else "-", j["status"])
    return t


def _date(value: str, option: str) -> datetime:
    """An ISO date or time; one without an offset is UTC (the lake's time)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"{option} '{value}' is not a date", hint="use YYYY-MM-DD or an ISO time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def register(app: typer.Typer) -> None:
    @app.command()
    def scheduler() -> None:
        """Run the scheduled jobs until SIGTERM/SIGINT (one active scheduler per metadata store)."""
        sys.exit(Lakehouse().scheduler().serve())

    schedule = typer.Typer(help="The schedule: each job's cron, next and last run (run a job by hand).",
                           invoke_without_command=True, no_args_is_help=False)
    app.add_typer(schedule, name="schedule")

    @schedule.callback()
    def show(
        ctx: typer.Context,
        as_json: Annotated[bool, typer.Option("--json", help="Print the schedule and the latest runs as JSON.")] = False,
    ) -> None:
        if ctx.invoked_subcommand is not None:
            return
        status = Lakehouse().schedule()
        if as_json:
            console.print_json(json.dumps(status, default=str))
        else:
            console.print(schedule_table(status))

    @schedule.command("run")
    def run(
        job: Annotated[str, typer.Argument(help="ingest, silver, gold, retention or optimize.")],
        due_between: Annotated[tuple[str, str] | None, typer.Option(
            "--due-between", help="Only if the job's cron has a slot in (START, END]; else exit 99 (skipped).",
        )] = None,
    ) -> None:
        """Run one job now, as the scheduler would: its lease, retries, and the run history."""
        window = None
        if due_between is not None:
            window = (_date(due_between[0], "--due-between"), _date(due_between[1], "--due-between"))
        out = Lakehouse().run_job(job, due_between=window)
        if out is None:
            err_console.print(f"{job}: not due between {due_between[0]} and {due_between[1]}")  # type: ignore[index]
            sys.exit(EXIT_NOT_DUE)
        console.print(f"{out.job}: {out.status}" + (f" ({out.error})" if out.error else "")
                      + (f" after {out.attempts} attempts" if out.attempts > 1 else ""))
        if out.status == "failed":
            sys.exit(1)
        if out.status == "skipped":  # not run (already running elsewhere, not in this build)
            sys.exit(EXIT_NOT_DUE)

    @app.command()
    def backfill(
        date_from: Annotated[str, typer.Option("--from", help="First event date to rebuild (YYYY-MM-DD).")],
        date_to: Annotated[str, typer.Option("--to", help="Last event date to rebuild (YYYY-MM-DD), inclusive.")],
        tables: Annotated[list[str] | None, typer.Option("--tables", help="Only these silver/gold tables (repeatable).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the run report as JSON.")] = False,
    ) -> None:
        """Rebuild a range of event dates of silver and gold from bronze; other dates stay as they are."""
        lo, hi = _date(date_from, "--from").date(), _date(date_to, "--to").date()
        names = [n.strip() for t in tables or [] for n in t.split(",") if n.strip()]
        result = Lakehouse().backfill(lo, hi, names or None)
        if as_json:
            console.print_json(json.dumps(result.to_dict(), default=str))
            return
        t = Table(title=f"Backfill {result.date_from} .. {result.date_to} ({result.duration_s:.1f} s)", header_style="bold")
        for col in ("table", "kind", "done", "rows out", "why"):
            t.add_column(col, justify="right" if col == "rows out" else "left")
        for m in result.models:
            t.add_row(m.table, m.kind, m.action, f"{m.rows_out:,}", m.reason or "")
        console.print(t)

    export = typer.Typer(help="Export the schedule to another orchestrator.", no_args_is_help=True)
    app.add_typer(export, name="export")

    @export.command("airflow")
    def airflow(
        dag_id: Annotated[str, typer.Option(help="The DAG's id.")] = "lakehouse",
        command: Annotated[str, typer.Option(help="How the Airflow workers call the CLI.")] = "lakehouse",
    ) -> None:
        """Print an Airflow DAG file with the same jobs, crons and dependencies (calls this CLI)."""
        sys.stdout.write(Lakehouse().airflow_dag(dag_id=dag_id, command=command))
