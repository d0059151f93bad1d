"""health, alerts: is the lake wrong or late?"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from lakehouse.cli.render import console, human_bytes
from lakehouse.service import Lakehouse

STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "unknown": "dim"}
EXIT = {"ok": 0, "unknown": 0, "warn": 1, "fail": 2}  # --check: the Nagios convention


def _dur(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _mark(text: str, status: str) -> str:
    return f"[{STYLE[status]}]{text}[/]"


def _when(value: datetime | None) -> str:
    return value.strftime("%m-%d %H:%M") if value else "-"


def register(app: typer.Typer) -> None:
    @app.command()
    def health(
        as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
        check: Annotated[bool, typer.Option("--check", help="Exit 1 on warn, 2 on fail (for cron and CI).")] = False,
    ) -> None:
        """Health of every table and job: staleness, data lag, layer delay, quality, size, growth, runs."""
        report = Lakehouse().health_report()
        if as_json:
            console.print_json(json.dumps(report.to_dict(), default=str))
        else:
            wide = console.width >= 100  # on 80 columns: no size and growth
            t = Table(title=f"Lake health: {_mark(report.status, report.status)} ({report.elapsed_ms:.0f} ms)",
                      header_style="bold")
            cols = ("table", "status", "commit", "lag", "behind", "checks", *(("size", "growth/d") if wide else ()))
            for col in cols:
                t.add_column(col, justify="left" if col in ("table", "status") else "right", no_wrap=True)
            for x in report.tables:
                if not x.exists:
                    continue
                behind = max(x.inputs, key=lambda i: (i.status != "ok", i.seconds.value or 0), default=None)
                bad = [c for c in x.checks if c.status != "ok"]
                late = behind is not None and (behind.versions.value or behind.seconds.value)
                row = [
                    x.table, _mark(x.status, x.status),
                    _mark(_dur(x.staleness.value), x.staleness.status), _mark(_dur(x.data_lag.value), x.data_lag.status),
                    _mark(f"{behind.versions.value:g}v {_dur(behind.seconds.value)}", behind.status)
                    if behind is not None and late else "-",
                    _mark(f"{len(bad)}/{len(x.checks)}", "warn" if bad else "ok") if x.checks else "-",
                ]
                if wide:
                    row += [human_bytes(x.size_bytes or 0),
                            _mark(human_bytes(int(x.growth.value)), x.growth.status) if x.growth.value is not None else "-"]
                t.add_row(*row)
            console.print(t)
            if report.jobs:
                j = Table(title="Jobs", header_style="bold")
                for col in ("job", "last run", "status", "took", "last success", "failed"):
                    j.add_column(col, justify="left" if col in ("job", "status") else "right", no_wrap=True)
                for job in report.jobs:
                    j.add_row(job.job, _when(job.last_started_at),
                              _mark(job.last_status, "fail" if job.last_status == "failed" else "ok"),
                              f"{job.last_duration_s:.1f}s", _mark(_dur(job.success_age.value), job.success_age.status),
                              str(job.failed_runs))
                console.print(j)
            if report.kafka.state != "off" or report.kafka.partitions:
                lag = sum(int(p.lag.value or 0) for p in report.kafka.partitions)
                console.print(f"Kafka: {report.kafka.state}" + (f", {lag:,} messages not in bronze" if report.kafka.partitions else "")
                              + (f" ({report.kafka.detail})" if report.kafka.detail else ""))
            for x in report.tables:
                for c in x.checks:
                    if c.status != "ok":
                        console.print(_mark(f"{x.table}: {c.check} {c.outcome}", c.status)
                                      + (f", {c.null_pct.value:g}% null" if c.null_pct and c.null_pct.value else ""))
            for note in report.notes:
                console.print(f"[dim]{note}[/]")
        if check and EXIT[report.status]:
            # SystemExit, not typer.Exit: `main` runs Typer with standalone_mode=False, where an
            # Exit's code is returned and dropped.
            raise SystemExit(EXIT[report.status])

    @app.command()
    def alerts(
        as_json: Annotated[bool, typer.Option("--json", help="Print the evaluation as JSON.")] = False,
    ) -> None:
        """Evaluate the alert rules once and notify (log, webhooks); list what fires."""
        ev = Lakehouse().evaluate_alerts()
        if as_json:
            console.print_json(json.dumps(ev.to_dict(), default=str))
            return
        t = Table(title=f"{len(ev.firing)} alerts firing, {len(ev.resolved)} resolved now", header_style="bold")
        for col in ("alert", "severity", "summary"):
            t.add_column(col, no_wrap=col != "summary")
        for a in sorted(ev.firing, key=lambda a: (a.severity != "critical", a.alertname, a.summary)):
            t.add_row(a.alertname.removeprefix("Lakehouse"), _mark(a.severity, "fail" if a.severity == "critical" else "warn"),
                      a.summary)
        console.print(t)
        for d in ev.deliveries:
            if not d.delivered:
                console.print(f"[red]not delivered[/] to {d.notifier} ({d.group}, {len(d.fingerprints)} alerts): {d.error}"
                              " [dim](sent again at the next evaluation)[/]")
