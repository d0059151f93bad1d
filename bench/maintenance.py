"""Table maintenance benchmark: a bronze table left by streaming (many tiny appends), before and
after `Lakehouse.optimize`.

1. build (not timed): `bronze.app_events` from N appends of a few rows each (one Delta commit
   and one file per append, as a Kafka consumer with small batches leaves it), spread over D
   closed days; the first through `DeltaStore` (creating the table as the lake does), the rest
   with plain delta-rs appends on one open table (the same files and log, built ~3x faster);
2. query before: a gold-style DuckDB aggregate over the whole table read the way `lakehouse
   transform` reads it (`DuckDBEngine.bind_table`: file list from the Delta log, then Parquet),
   in a fresh process each time (so the log is loaded, as a new transform run or API process
   would), median of R runs;
3. optimize: `Lakehouse.optimize("bronze.app_events")` (compaction + the contract's Z-order per
   closed day, checkpoint, log cleanup), one fresh process, timed;
4. query after: as in 2. Content is compared before/after (same aggregate result, same rows).

    .venv/bin/python bench/maintenance.py [--appends 10000] [--rows 20] [--days 10] [--repeat 3] [--keep]
                                          [--workdir DIR [--reuse]]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import log, machine_line, run_step, settings_for, table

TARGET_RATIO = 1 / 3
TABLE = "bronze.app_events"
QUERY = """SELECT event_date, event_type, count(*) AS events, count(DISTINCT user_id) AS users
           FROM bronze.app_events GROUP BY ALL ORDER BY ALL"""


def step_build(root: str, appends: int, rows: int, days: int) -> dict[str, Any]:
    import numpy as np
    import pyarrow as pa
    from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

    from lakehouse.contract import REGISTRY, TableId
    from lakehouse.contract.arrow import arrow_schema
    from lakehouse.storage.delta import DeltaStore

    t = TableId("bronze", "app_events")
    schema = arrow_schema(REGISTRY.get(t))
    store = DeltaStore(settings_for(Path(root)))
    dt: DeltaTable | None = None
    first = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days + 1)
    rng = np.random.default_rng(7)
    types = np.array(["app_open", "page_view", "click", "scroll", "share", "purchase", "search"])
    t0 = time.perf_counter()
    for k in range(appends):
        ts = first + timedelta(seconds=k * days * 86400 / appends)  # time moves on, one day after another
        users = rng.integers(0, 5000, rows)
        cols: dict[str, Any] = {f.name: pa.nulls(rows, f.type) for f in schema}
        cols.update(
            event_id=pa.array([f"e{k}-{i}" for i in range(rows)]),
            user_id=pa.array(np.char.add("u", users.astype(str))),
            event_type=pa.array(types[rng.integers(0, len(types), rows)]),
            timestamp=pa.array([ts] * rows, pa.timestamp("us", tz="UTC")),
            app_type=pa.array(["web"] * rows),
            duration_ms=pa.array(rng.integers(0, 5000, rows)),
            _ingested_at=pa.array([ts] * rows, pa.timestamp("us", tz="UTC")),
            _source=pa.array([f"bench/{k}/{i}" for i in range(rows)]),
            _batch_id=pa.array([f"b{k}"] * rows),
            event_date=pa.array([ts.date()] * rows, pa.date32()),
        )
        batch = pa.table(cols, schema=schema)
        if dt is None:  # the first commit creates the table as the lake does (change feed on)
            store.append(t, batch, partition_by=["event_date"], txns={"bench:stream": k + 1})
            dt = DeltaTable(str(store.path(t)))
        else:  # then one plain delta-rs append per batch: the same files and commits, built faster
            write_deltalake(dt, batch, mode="append", commit_properties=CommitProperties(
                app_transactions=[Transaction(app_id="bench:stream", version=k + 1)]))
    seconds = time.perf_counter() - t0
    info = store.info(t)
    return {"seconds": seconds, "files": info.files, "rows": info.rows, "version": info.version}


def step_query(root: str) -> dict[str, Any]:
    from lakehouse.contract import TableId
    from lakehouse.pipeline.engines import DuckDBEngine
    from lakehouse.storage.delta import DeltaStore

    settings = settings_for(Path(root))
    t0 = time.perf_counter()
    store = DeltaStore(settings)
    engine = DuckDBEngine(settings, store)
    engine.bind_table(TableId("bronze", "app_events"))
    result = engine.arrow(QUERY)
    seconds = time.perf_counter() - t0
    engine.close()
    digest = hashlib.sha256(json.dumps(result.to_pylist(), default=str).encode()).hexdigest()
    return {"seconds": seconds, "groups": result.num_rows, "digest": digest, "rows": store.info("bronze.app_events").rows,
            "files": len(store.snapshot(TableId("bronze", "app_events")).files)}


def step_marker(root: str) -> dict[str, Any]:
    from lakehouse.storage.delta import DeltaStore

    store = DeltaStore(settings_for(Path(root)))
    return {"appends": store.txn_versions(TABLE, ["bench:stream"]).get("bench:stream", 0)}


def step_optimize(root: str) -> dict[str, Any]:
    from lakehouse.service import Lakehouse

    lh = Lakehouse(settings_for(Path(root)))
    t0 = time.perf_counter()
    result = lh.optimize(TABLE)
    seconds = time.perf_counter() - t0
    out = result.optimized[0]
    return {"seconds": seconds, "status": result.status, "files_before": out.files_before, "files_after": out.files_after,
            "partitions": len(out.partitions_optimized), "log_cleanup": out.log_cleanup,
            "stream_marker": lh.store.txn_versions(TABLE, ["bench:stream"]).get("bench:stream")}


def _queries(root: Path, repeat: int, label: str) -> tuple[float, dict[str, Any]]:
    runs = [run_step(f"query {label}", "maintenance", "step_query", {"root": str(root)}) for _ in range(repeat)]
    return statistics.median(r.seconds for r in runs), runs[-1].result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--appends", type=int, default=10_000)
    ap.add_argument("--rows", type=int, default=20, help="rows per append")
    ap.add_argument("--days", type=int, default=10, help="closed days the appends are spread over")
    ap.add_argument("--repeat", type=int, default=3, help="query runs per side (median)")
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--reuse", action="store_true",
                    help="measure the table already built in --workdir (e.g. by a run that was stopped)")
    args = ap.parse_args()
    print(machine_line(), flush=True)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-maintenance-", dir="/tmp"))
    root = work / "lake"
    try:
        if args.reuse:
            args.appends = run_step("marker", "maintenance", "step_marker", {"root": str(root)}).result["appends"]
            log(f"reusing {TABLE} built from {args.appends:,} appends")
        else:
            log(f"building {TABLE} from {args.appends:,} appends of {args.rows} rows over {args.days} days")
            built = run_step("build", "maintenance", "step_build",
                             {"root": str(root), "appends": args.appends, "rows": args.rows, "days": args.days},
                             timeout=7200)
            log(f"built in {built.seconds:.0f} s ({built.seconds / args.appends * 1000:.1f} ms per append)")
        before_s, before = _queries(root, args.repeat, "before")
        opt = run_step("optimize", "maintenance", "step_optimize", {"root": str(root)}, timeout=7200)
        after_s, after = _queries(root, args.repeat, "after")
        same = before["digest"] == after["digest"] and opt.result["stream_marker"] == args.appends
        ratio = after_s / before_s
        rows = [
            ["data files", before["files"], after["files"], f"{after['files'] / before['files']:.4f}"],
            [f"gold query, s (median of {args.repeat})", before_s, after_s, f"{ratio:.3f}"],
            ["optimize, s", "-", opt.seconds, f"peak RSS {opt.peak_rss_mib:.0f} MiB"],
        ]
        print(f"\n{TABLE}: {before['rows']:,} rows from {args.appends:,} appends, "
              f"{opt.result['partitions']} partitions compacted + Z-ordered, log cleanup {opt.result['log_cleanup']}")
        print(table(["", "before optimize", "after optimize", "after/before"], rows))
        print(f"content unchanged (aggregate and stream marker): {'yes' if same else 'NO'}; "
              f"target query after <= 1/3 of before: {'met' if ratio <= TARGET_RATIO else 'NOT met'} ({ratio:.3f})")
        if not same:
            sys.exit(1)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
