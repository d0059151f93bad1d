"""Shared harness for the file-ingest and transform benchmarks.

Every measured step runs in a fresh child process (`python bench/common.py SPEC`), so its
peak memory is its own: the parent reads the child's RSS high-water mark from `wait4`
(`ru_maxrss`). The child times only the step itself (imports and setup are excluded) and
hands its result back as JSON.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent


# -- the machine ---------------------------------------------------------------------------------
def _meminfo_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return float("nan")


def machine_line() -> str:
    import deltalake
    import duckdb
    import pandas
    import pyarrow

    cpu = next(
        (x.split(":", 1)[1].strip() for x in Path("/proc/cpuinfo").read_text().splitlines() if x.startswith("model name")),
        platform.processor() or "unknown",
    )
    return (
        f"machine: nproc={os.cpu_count()} RAM={_meminfo_gib():.1f} GiB cpu={cpu} | "
        f"python={platform.python_version()} deltalake={deltalake.__version__} duckdb={duckdb.__version__} "
        f"pyarrow={pyarrow.__version__} pandas={pandas.__version__} | {datetime.now(UTC):%Y-%m-%d %H:%M} UTC "
        f"| load avg {' '.join(Path('/proc/loadavg').read_text().split()[:3])} (other work on the machine skews figures)"
    )


def ram_bytes() -> int:
    return int(_meminfo_gib() * 1024**3)


# -- the lake under test ---------------------------------------------------------------------------
def settings_for(root: Path, landing: Path | None = None, bronze: Path | None = None, **overrides: Any) -> Any:
    """Settings with every path set explicitly (nothing falls back to the environment)."""
    from lakehouse.config import Settings

    return Settings.under(root, bronze_path=bronze or root / "bronze", landing_path=landing or root / "landing", **overrides)


def window_start(days: int) -> datetime:
    """First simulated day: midnight UTC `days + 1` days ago, so the +1% day is yesterday (not the future)."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days + 1)


def step_simulate(root: str, events: int, days: int, start: str, seed: int, landing: str | None = None) -> dict[str, Any]:
    from lakehouse.service import Lakehouse

    lh = Lakehouse(settings_for(Path(root), Path(landing) if landing else None))
    t0 = time.perf_counter()
    rep = lh.simulate(events=events, days=days, start=datetime.fromisoformat(start), seed=seed)
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "records": rep.records,
        "expected_bronze": sum(s.expected_bronze for s in rep.sources.values()),
        "expected_quarantine": sum(s.expected_quarantine for s in rep.sources.values()),
        "per_source": {k: v.records for k, v in rep.sources.items()},
    }


def step_ingest(root: str, landing: str | None = None, bronze: str | None = None, profile: str | None = None) -> dict[str, Any]:
    """`Lakehouse.ingest()` (files -> bronze, exactly-once markers on), timed alone."""
    from lakehouse.service import Lakehouse

    lh = Lakehouse(settings_for(Path(root), Path(landing) if landing else None, Path(bronze) if bronze else None))
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    t0 = time.perf_counter()
    rep = lh.ingest()
    seconds = time.perf_counter() - t0
    if prof is not None:
        prof.disable()
        prof.dump_stats(profile)
    return {
        "seconds": seconds,
        "status": rep.status,
        "received": rep.received,
        "bronze": rep.bronze,
        "quarantined": rep.quarantined,
        "balanced": rep.balanced,
    }


def step_transform(root: str, full_refresh: bool, engine: str = "duckdb", spark: dict[str, Any] | None = None) -> dict[str, Any]:
    """`Lakehouse.transform()` bronze -> silver -> gold, timed alone; per-model seconds from the run reports.

    On Spark the session (JVM start, Delta jars from the cache) is started first and timed
    apart (`startup_s`): it is a fixed cost per process. The JVM is a child of this process,
    so its peak RSS is reported too (`jvm_peak_rss_mib`, after the session is stopped).
    """
    import resource

    from lakehouse.service import Lakehouse

    overrides = {"engine": engine, "spark": spark or {}}
    lh = Lakehouse(settings_for(Path(root), **overrides))
    startup = 0.0
    if engine == "spark":
        from lakehouse.pipeline.engines.spark_session import get_session

        t0 = time.perf_counter()
        get_session(lh.settings)
        startup = time.perf_counter() - t0
    t0 = time.perf_counter()
    reports = lh.transform(full_refresh=full_refresh)
    seconds = time.perf_counter() - t0
    models: dict[str, Any] = {}
    for r in reports:
        for m in r.models:
            models[m.table] = {"mode": m.mode, "seconds": m.seconds}
    out = {"seconds": seconds, "startup_s": startup, "status": [r.status for r in reports], "models": models}
    if engine == "spark":
        from pyspark import SparkContext

        from lakehouse.pipeline.engines.spark_session import stop_session

        gateway = SparkContext._gateway
        stop_session()
        proc = getattr(gateway, "proc", None)
        if proc is not None:  # the JVM exits once its stdin closes; wait for it to count its RSS
            proc.stdin.close()
            proc.wait(timeout=120)
        out["jvm_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return out


def step_compare_gold(a: str, b: str) -> dict[str, Any]:
    """Gold tables of two lakes, row by row (doubles to 9 significant digits): the differences."""
    import math

    from lakehouse.contract import REGISTRY
    from lakehouse.storage.delta import DeltaStore

    def norm(v: Any) -> Any:
        if isinstance(v, float):
            return "nan" if math.isnan(v) else float(f"{v:.9g}")
        return tuple(norm(x) for x in v) if isinstance(v, list) else v

    def rows(root: str, t: Any) -> list[tuple[Any, ...]]:
        table = DeltaStore(settings_for(Path(root))).dataset(t).to_table().select(REGISTRY.get(t).column_names)
        return sorted((tuple(norm(v) for v in r.values()) for r in table.to_pylist()), key=repr)

    out: dict[str, Any] = {}
    for t in (s.id for s in REGISTRY.models() if s.layer == "gold"):
        left, right = rows(a, t), rows(b, t)
        out[t.fqn] = {"rows": len(left), "equal": left == right}
    return out


# -- running a step in a fresh process ------------------------------------------------------------
@dataclass
class StepResult:
    name: str
    seconds: float  # the step's own time, measured inside the child
    wall: float  # the child's whole life, imports included
    peak_rss_mib: float  # the child's RSS high-water mark
    result: dict[str, Any] = field(default_factory=dict)


def run_step(name: str, module: str, func: str, kwargs: dict[str, Any], *, timeout: float = 3600.0,
             out: Path | None = None) -> StepResult:
    """Run `module.func(**kwargs)` (module = a file in bench/) in a child; return its timing and peak RSS."""
    result_file = Path(os.environ.get("TMPDIR", "/tmp")) / f".bench-{os.getpid()}-{time.monotonic_ns()}.json"
    spec = json.dumps({"module": module, "func": func, "kwargs": kwargs, "result": str(result_file)})
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(BENCH_DIR / "common.py"), spec], stdout=out.open("ab") if out else None)
    timer = threading.Timer(timeout, lambda: os.kill(proc.pid, signal.SIGKILL))
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"step {name!r} failed (exit {proc.returncode}, {wall:.0f}s; timeout {timeout:.0f}s)")
    res = json.loads(result_file.read_text())
    result_file.unlink()
    return StepResult(name, float(res.get("seconds", wall)), wall, usage.ru_maxrss / 1024, res)


def _child(spec_json: str) -> None:
    spec = json.loads(spec_json)
    sys.path.insert(0, str(BENCH_DIR))
    mod = importlib.import_module(spec["module"])
    res = getattr(mod, spec["func"])(**spec["kwargs"])
    Path(spec["result"]).write_text(json.dumps(res, default=str))


# -- output ------------------------------------------------------------------------------------------
def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def log(msg: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    _child(sys.argv[1])
