"""What data quality costs: a transform with every table's checks beside the same transform without.

For each size: simulate + ingest (not timed), then, each in a fresh process on the same bronze,
alternating: `Lakehouse.transform(full_refresh=True)` with the checks on (the default) and with
`quality_checks=False`; then +1% new data and the incremental run both ways (on a copy of the lake,
so both start from the same state). The cost is (with − without) / without, and the time the checks
themselves report (the sum of every check's seconds) is printed beside it. Target: ≤ 15 %.

    python bench/quality.py [--events 10000000] [--repeat 2] [--workdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from common import log, machine_line, run_step, table, window_start


def step_transform(root: str, full_refresh: bool, checks: bool) -> dict[str, Any]:
    from lakehouse.config import Settings
    from lakehouse.service import Lakehouse

    lh = Lakehouse(Settings.under(Path(root), quality_checks=checks))
    t0 = time.perf_counter()
    results = lh.transform(full_refresh=full_refresh)
    seconds = time.perf_counter() - t0
    checks_run = [c for r in results for c in r.checks]
    return {
        "seconds": seconds,
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
    return {"seconds": time.perf_counter() - t0, "bronze": rep.details["bronze"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", default="10000000", help="comma-separated sizes")
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=2, help="runs of each variant (alternating); the median is shown")
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
            runs: dict[bool, list[Any]] = {True: [], False: []}
            for i in range(args.repeat):
                for checks in (True, False) if i % 2 == 0 else (False, True):
                    r = run_step(f"full checks={checks}", "quality", "step_transform",
                                 {"root": str(root), "full_refresh": True, "checks": checks})
                    runs[checks].append(r)
                    log(f"  full, checks {'on ' if checks else 'off'}: {r.seconds:.2f}s ({r.result['checks']} checks, "
                        f"{r.result['check_seconds']:.2f}s in checks)")
            on = statistics.median(r.seconds for r in runs[True])
            off = statistics.median(r.seconds for r in runs[False])
            in_checks = statistics.median(r.result["check_seconds"] for r in runs[True])
            rows.append([f"{n:,}", "full", f"{off:.2f}", f"{on:.2f}", f"{100 * (on - off) / off:.1f}%",
                         f"{in_checks:.2f} ({100 * in_checks / on:.1f}%)", runs[True][0].result["checks"],
                         f"{max(r.peak_rss_mib for r in runs[True]):,.0f}"])
            notes += [f"{n:,}: not passing on simulated data: {', '.join(runs[True][0].result['not_passing']) or 'none'}"]

            log(f"[{n:,}] +1%: simulate + ingest the next day (not timed)")
            run_step("prepare+1%", "quality", "step_prepare", {
                "root": str(root), "events": max(1, n // 100), "days": 1,
                "start": (start + timedelta(days=args.days)).isoformat(), "seed": 43})
            copy = work / f"n{n}-copy"
            shutil.copytree(root, copy)
            inc_on = run_step("incremental checks=on", "quality", "step_transform",
                              {"root": str(root), "full_refresh": False, "checks": True})
            inc_off = run_step("incremental checks=off", "quality", "step_transform",
                               {"root": str(copy), "full_refresh": False, "checks": False})
            shutil.rmtree(copy, ignore_errors=True)
            rows.append([f"{n:,}", "incremental +1%", f"{inc_off.seconds:.2f}", f"{inc_on.seconds:.2f}",
                         f"{100 * (inc_on.seconds - inc_off.seconds) / inc_off.seconds:.1f}%",
                         f"{inc_on.result['check_seconds']:.2f} ({100 * inc_on.result['check_seconds'] / inc_on.seconds:.1f}%)",
                         inc_on.result["checks"], f"{inc_on.peak_rss_mib:,.0f}"])
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print("data quality cost: the same transform with every table's checks (ours) and without")
    print(table(["events", "run", "no checks s", "checks s", "cost", "in checks s (% of run)", "checks",
                 "peak RSS MiB"], rows))
    for note in notes:
        print(f"  - {note}")
    print("target: cost <= 15% of the transform")


if __name__ == "__main__":
    main()
