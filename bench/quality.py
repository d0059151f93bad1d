"""What data quality costs: a transform with every table's checks beside the same transform without.

For each size: simulate + ingest (not timed), one untimed build, then, each in a fresh process on
the same bronze, alternating: `Lakehouse.transform(full_refresh=True)` with the checks on (the default) and with
`quality_checks=False`; then +1% new data and the incremental run both ways (on a copy of the lake,
so every run starts from the same state). The cost is (with − without) / without on the medians of
the wall time and of the process's CPU time, and the time the checks themselves report (the sum of
every check's seconds) is printed beside it. Target: ≤ 15 %.

    python bench/quality.py [--events 10000000] [--repeat 3] [--workdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from common import StepResult, log, machine_line, run_step, table, window_start


def step_transform(root: str, full_refresh: bool, checks: bool) -> dict[str, Any]:
    from lakehouse.config import Settings
    from lakehouse.service import Lakehouse

    lh = Lakehouse(Settings.under(Path(root), quality_checks=checks))
    t0, cpu0 = time.perf_counter(), time.process_time()
    results = lh.transform(full_refresh=full_refresh)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    checks_run = [c for r in results for c in r.checks]
    return {
        "seconds": seconds,
        "cpu": cpu,
        "checks": len(checks_run),
        "check_seconds": sum(c.seconds for c in checks_run),
        "not_passing": sorted({f"{c.table}:{c.check}={c.outcome}" for c in checks_run if c.outcome != "pass"}),
    }


def step_prepare(root: str, events: int, days: int, start: str, seed: int) -> dict[str, Any]:
    from lakehouse.config import Settings
    from lakehouse.service import Lakehouse

    lh = Lakehouse(Settings.under(Path(root)))
    t0 = time.perf_counter()
    lh.simulate(events=events, days=days, start=__import__("datetime").datetime.fromisoformat(start), seed=seed)
    rep = lh.ingest()
    return {"seconds": time.perf_counter() - t0, "bronze": rep.bronze}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", default="10000000", help="comma-separated sizes")
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each variant (alternating); the median is shown")
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    print(machine_line(), flush=True)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-quality-", dir="/tmp"))
    start = window_start(args.days)
    rows: list[list[Any]] = []
    notes: list[str] = []
    try:
        for n in (int(x) for x in args.events.split(",")):
            root = work / f"n{n}"
            log(f"[{n:,}] simulate + ingest (not timed)")
            run_step("prepare", "quality", "step_prepare",
                     {"root": str(root), "events": n, "days": args.days, "start": start.isoformat(), "seed": 42})
            # One untimed build first: the first one after the ingest pays for the OS writing the
            # ingested files back to disk (it measured 24 s against 14 s for the next ones).
            run_step("warm-up", "quality", "step_transform", {"root": str(root), "full_refresh": True, "checks": False})
            on, _ = compare(rows, f"{n:,}", "full", args.repeat, partial(Path, root), full_refresh=True)
            notes += [f"{n:,}: not passing on simulated data: {', '.join(on.result['not_passing']) or 'none'}"]

            log(f"[{n:,}] +1%: simulate + ingest the next day (not timed)")
            run_step("prepare+1%", "quality", "step_prepare", {
                "root": str(root), "events": max(1, n // 100), "days": 1,
                "start": (start + timedelta(days=args.days)).isoformat(), "seed": 43})
            copy = work / f"n{n}-copy"

            def fresh_copy(root: Path = root, copy: Path = copy) -> Path:  # each run from the same state
                shutil.rmtree(copy, ignore_errors=True)
                shutil.copytree(root, copy)
                return copy

            compare(rows, f"{n:,}", "incremental +1%", args.repeat, fresh_copy, full_refresh=False)
            shutil.rmtree(copy, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print("data quality cost: the same transform with every table's checks (ours) and without")
    print(table(["events", "run", "no checks s", "checks s", "cost", "no checks CPU s", "checks CPU s", "CPU cost",
                 "in checks s (% of run)", "checks", "peak RSS MiB"], rows))
    for note in notes:
        print(f"  - {note}")
    print("target: cost <= 15% of the transform (medians; CPU = the process's CPU time, all threads)")


def compare(rows: list[list[Any]], size: str, kind: str, repeat: int, lake: Callable[[], Path], *,
            full_refresh: bool) -> tuple[StepResult, StepResult]:
    """`repeat` runs each way, alternating, each in a fresh process after a sync (so one run's
    files being written back to disk do not land in the next one's time); one row of medians."""
    runs: dict[bool, list[StepResult]] = {True: [], False: []}
    for i in range(repeat):
        for checks in (True, False) if i % 2 == 0 else (False, True):
            root = lake()
            os.sync()
            r = run_step(f"{kind} checks={checks}", "quality", "step_transform",
                         {"root": str(root), "full_refresh": full_refresh, "checks": checks})
            runs[checks].append(r)
            log(f"  {kind}, checks {'on ' if checks else 'off'}: {r.seconds:.2f}s, CPU {r.result['cpu']:.2f}s "
                f"({r.result['checks']} checks, {r.result['check_seconds']:.2f}s in checks)")
    on, off = (statistics.median(r.seconds for r in runs[c]) for c in (True, False))
    cpu_on, cpu_off = (statistics.median(r.result["cpu"] for r in runs[c]) for c in (True, False))
    in_checks = statistics.median(r.result["check_seconds"] for r in runs[True])
    rows.append([size, kind, f"{off:.2f}", f"{on:.2f}", f"{100 * (on - off) / off:.1f}%",
                 f"{cpu_off:.2f}", f"{cpu_on:.2f}", f"{100 * (cpu_on - cpu_off) / cpu_off:.1f}%",
                 f"{in_checks:.2f} ({100 * in_checks / on:.1f}%)", runs[True][0].result["checks"],
                 f"{max(r.peak_rss_mib for r in runs[True]):,.0f}"])
    return runs[True][0], runs[False][0]


if __name__ == "__main__":
    main()
