"""API benchmark: preview and a gold SQL query at 1, 8 and 32 concurrent clients.

Starts `lakehouse serve` (uvloop + httptools, gc frozen after start-up: exactly what ships) on a
free 127.0.0.1 port in a subprocess, loads it from another process (`wrk` when installed, else
an asyncio/httpx load generator), and prints req/s, p50 and p99 beside DuckDB answering the
same query in-process (the ceiling: no HTTP, no auth, no audit, no JSON).

Every request does the full work: key check, role and masking rules, row cap, audit row,
Prometheus metrics. "repeated" requests send the same text each time, so after the first they
are answered from the result cache (keyed by the Delta versions of the tables read: a new
version is a miss). "distinct" requests change a literal on every request, so each one is
parsed, validated, rendered and run by DuckDB: the cache-miss cost.

The load generator runs on the same machine and takes CPU from the server: `wrk -t1` (one
thread is enough for these rates), and the load average is printed with each point.

    python bench/api.py --rows 100000 --duration 5 [--workers 1] [--lake PATH] [--no-distinct]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import duckdb
import httpx

from lakehouse.access import KeyRing
from lakehouse.config import Settings
from lakehouse.contract import TableId
from lakehouse.metadata.store import MetadataStore
from lakehouse.query.sample import build_sample_lake
from lakehouse.storage.delta import DeltaStore

SQL = ("SELECT segment, count(*) AS users, avg(engagement_score) AS avg_score "
       "FROM gold.user_segments GROUP BY segment ORDER BY segment")
# The same work with a literal that changes per request (so never a cache hit): `total_events > -n`
# holds for every row, so DuckDB reads exactly what the repeated query reads. %d is the counter.
SQL_DISTINCT = ("SELECT segment, count(*) AS users, avg(engagement_score) AS avg_score "
                "FROM gold.user_segments WHERE total_events > -%d GROUP BY segment ORDER BY segment")
PREVIEW = "/tables/gold.user_segments/preview?limit=100"
PREVIEW_DISTINCT = "/tables/gold.user_segments/preview?limit=100&filter=total_events%%3E-%d"


def machine() -> str:
    mem = next(int(x.split()[1]) for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal"))
    cpu = next((x.split(":", 1)[1].strip() for x in Path("/proc/cpuinfo").read_text().splitlines() if x.startswith("model name")), platform.processor())
    return (f"machine: nproc={os.cpu_count()} RAM={mem / 1024 / 1024:.1f} GiB cpu={cpu} "
            f"python={platform.python_version()} duckdb={duckdb.__version__} {time.strftime('%Y-%m-%d %H:%M')}")


def load() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wrk_script(token: str, body: str | None, path: str, distinct: bool) -> str:
    """A wrk Lua script: auth header, and for `distinct` a new literal on every request."""
    method = "POST" if body else "GET"
    lines = [
        f'wrk.method = "{method}"',
        f'wrk.headers["Authorization"] = "Bearer {token}"',
        'wrk.headers["Content-Type"] = "application/json"',
    ]
    if body and not distinct:
        lines.append(f"wrk.body = {json.dumps(body)}")
    if distinct:  # counters start per thread at a random offset so threads do not repeat each other
        lines += [
            "local n = math.random(1, 1000000000)",
            "request = function()",
            "  n = n + 1",
            (f"  return wrk.format(nil, nil, nil, string.format({json.dumps(body)}, n))" if body
             else f"  return wrk.format(nil, string.format({json.dumps(path)}, n))"),
            "end",
        ]
    return "\n".join(lines) + "\n"


def wrk(url: str, path: str, clients: int, seconds: int, token: str, body: str | None, distinct: bool,
        tmp: Path) -> tuple[float, float, float]:
    script = tmp / "load.lua"
    script.write_text(wrk_script(token, body, path, distinct))
    out = subprocess.run(["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "--latency", "-s", str(script),
                          url + (path % 0 if "%d" in path else path)],
                         capture_output=True, text=True, check=True).stdout

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            return float("nan")
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        print(f"  !! {errors.group(1)} non-2xx responses", file=sys.stderr)
    return rps, ms("50"), ms("99")


def pyload(url: str, path: str, clients: int, seconds: int, token: str, body: str | None,
           distinct: bool) -> tuple[float, float, float]:
    """Fallback load generator in a child process (asyncio + httpx)."""
    code = textwrap.dedent(f"""
        import asyncio, json, time, httpx, random
        async def main():
            lat = []
            n = random.randrange(10**9)
            end = time.perf_counter() + {seconds}
            async with httpx.AsyncClient(headers={{"Authorization": "Bearer {token}"}}, timeout=30,
                                         limits=httpx.Limits(max_connections={clients})) as c:
                async def worker():
                    nonlocal n
                    while time.perf_counter() < end:
                        n += 1
                        body, path = {body!r}, {path!r}
                        if {distinct!r}:
                            body, path = (body % n if body else body), (path % n if "%d" in path else path)
                        t = time.perf_counter()
                        r = await (c.post({url!r} + path, content=body, headers={{"Content-Type": "application/json"}}) if body
                                   else c.get({url!r} + path))
                        r.raise_for_status()
                        lat.append((time.perf_counter() - t) * 1000)
                await asyncio.gather(*(worker() for _ in range({clients})))
            lat.sort()
            print(json.dumps([len(lat) / {seconds}, lat[len(lat) // 2], lat[int(len(lat) * 0.99)]]))
        asyncio.run(main())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    rps, p50, p99 = json.loads(out)
    return float(rps), float(p50), float(p99)


def ceiling(store: DeltaStore, sql: str, n: int = 300) -> tuple[float, float, float]:
    """DuckDB in-process, one thread (as the engine runs small tables), the table in memory as Arrow."""
    con = duckdb.connect(config={"threads": 1})
    con.register("user_segments", store.dataset(TableId("gold", "user_segments")).to_table())
    lat = []
    t0 = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        con.sql(sql % i if "%d" in sql else sql).to_arrow_table()
        lat.append((time.perf_counter() - t) * 1000)
    total = time.perf_counter() - t0
    lat.sort()
    return n / total, statistics.median(lat), lat[int(n * 0.99)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000, help="gold.user_segments rows when the lake is empty")
    ap.add_argument("--duration", type=int, default=5, help="seconds per measurement")
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--workers", type=int, default=1, help="server worker processes (lakehouse serve --workers)")
    ap.add_argument("--lake", type=Path, default=None, help="lake base path (default: a temp dir)")
    ap.add_argument("--loader", choices=["auto", "wrk", "python"], default="auto")
    ap.add_argument("--no-distinct", action="store_true", help="skip the cache-miss (distinct literal) cases")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="lakehouse-bench-"))
    base = args.lake or tmp / "lake"
    settings = Settings(base_path=base)
    store = DeltaStore(settings)
    if not store.exists(TableId("gold", "user_segments")):
        build_sample_lake(store, rows=args.rows // 2)
    rows = store.info(TableId("gold", "user_segments")).rows
    meta = MetadataStore.open(settings.metadata_dsn)
    token = KeyRing(meta).create("admin", name="bench").token
    meta.close()

    port = free_port()
    env = {**os.environ, "LAKEHOUSE_BASE_PATH": str(base)}
    server = subprocess.Popen(
        [sys.executable, "-m", "lakehouse.cli.main", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(args.workers), "--log-level", "warning"],
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    use_wrk = args.loader == "wrk" or (args.loader == "auto" and shutil.which("wrk"))
    auth = {"Authorization": f"Bearer {token}"}
    try:
        for _ in range(150):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        body = json.dumps({"sql": SQL})
        # warm up every worker (connection pool, table registration, caches): new connections
        # are spread over the workers by the kernel
        for _ in range(20 * args.workers):
            httpx.get(url + PREVIEW, headers=auth).raise_for_status()
            httpx.post(url + "/query", json={"sql": SQL}, headers=auth).raise_for_status()
        cfg = Settings(base_path=base)
        print(machine())
        print(f"server: lakehouse serve --workers {args.workers} (uvicorn, uvloop + httptools, gc frozen after start-up); "
              f"{cfg.api.query_workers} query workers ({cfg.api.worker_memory_mb} MiB each), {cfg.api.pool_size} threads, "
              f"result cache {cfg.api.result_cache_mb} MiB")
        print(f"load: {'wrk -t1' if use_wrk else 'python asyncio+httpx'} on the same {os.cpu_count()} cores "
              f"(it takes CPU from the server); gold.user_segments rows={rows}; {args.duration}s per point")
        print(f"{'case':<40}{'clients':>8}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'load':>7}")
        cases: list[tuple[str, str, str | None, bool, str]] = [
            ("GET preview limit 100, repeated", PREVIEW, None, False, "SELECT * FROM user_segments LIMIT 101"),
            ("POST /query gold GROUP BY, repeated", "/query", body, False, SQL.replace("gold.user_segments", "user_segments")),
        ]
        if not args.no_distinct:
            cases += [
                ("GET preview, distinct filter", PREVIEW_DISTINCT, None, True,
                 "SELECT * FROM user_segments WHERE total_events > -%d LIMIT 101"),
                ("POST /query GROUP BY, distinct literal", "/query", json.dumps({"sql": SQL_DISTINCT}), True,
                 SQL_DISTINCT.replace("gold.user_segments", "user_segments")),
            ]
        for label, path, payload, distinct, sql in cases:
            for c in (int(x) for x in args.clients.split(",")):
                before = load()
                rps, p50, p99 = (wrk(url, path, c, args.duration, token, payload, distinct, tmp) if use_wrk
                                 else pyload(url, path, c, args.duration, token, payload, distinct))
                print(f"{label:<40}{c:>8}{rps:>10.0f}{p50:>9.2f}{p99:>9.2f}{before:>7.2f}", flush=True)
            rps, p50, p99 = ceiling(store, sql)
            print(f"{'  ceiling: DuckDB in-process':<40}{1:>8}{rps:>10.0f}{p50:>9.2f}{p99:>9.2f}{load():>7.2f}", flush=True)
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
