"""API benchmark: preview and a gold SQL query at 1, 8 and 32 concurrent clients.

Starts `uvicorn` on a free 127.0.0.1 port in a subprocess, loads it from another process
(`wrk` when installed, else an asyncio/httpx load generator), and prints req/s, p50 and p99
beside DuckDB answering the same queries in-process (the ceiling: no HTTP, no auth, no JSON).

    python bench/api.py --rows 100000 --duration 5 [--workers 2] [--lake PATH]
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

from lakehouse.catalog.access import KeyRing
from lakehouse.catalog.store import MetadataStore
from lakehouse.config import Settings
from lakehouse.query.sample import build_sample_lake
from lakehouse.storage.delta import DeltaStore
from lakehouse.storage.names import TableId

SQL = ("SELECT segment, count(*) AS users, avg(engagement_score) AS avg_score "
       "FROM gold.user_segments GROUP BY segment ORDER BY segment")
PREVIEW = "/tables/gold.user_segments/preview?limit=100"


def machine() -> str:
    mem = next(int(x.split()[1]) for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal"))
    cpu = next((x.split(":", 1)[1].strip() for x in Path("/proc/cpuinfo").read_text().splitlines() if x.startswith("model name")), platform.processor())
    return f"machine: nproc={os.cpu_count()} RAM={mem / 1024 / 1024:.1f} GiB cpu={cpu} python={platform.python_version()} duckdb={duckdb.__version__}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wrk(url: str, clients: int, seconds: int, token: str, body: str | None, tmp: Path) -> tuple[float, float, float]:
    script = tmp / "post.lua"
    script.write_text(textwrap.dedent(f"""
        wrk.method = "{'POST' if body else 'GET'}"
        wrk.headers["Authorization"] = "Bearer {token}"
        wrk.headers["Content-Type"] = "application/json"
        {f'wrk.body = {json.dumps(body)}' if body else ''}
    """))
    out = subprocess.run(["wrk", f"-t{min(2, clients)}", f"-c{clients}", f"-d{seconds}s", "--latency", "-s", str(script), url],
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


def pyload(url: str, clients: int, seconds: int, token: str, body: str | None) -> tuple[float, float, float]:
    """Fallback load generator in a child process (asyncio + httpx)."""
    code = textwrap.dedent(f"""
        import asyncio, json, time, httpx, statistics
        async def main():
            lat = []
            end = time.perf_counter() + {seconds}
            async with httpx.AsyncClient(headers={{"Authorization": "Bearer {token}"}}, timeout=30,
                                         limits=httpx.Limits(max_connections={clients})) as c:
                async def worker():
                    while time.perf_counter() < end:
                        t = time.perf_counter()
                        r = await (c.post({url!r}, content={body!r}, headers={{"Content-Type": "application/json"}}) if {body!r} else c.get({url!r}))
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
    con = duckdb.connect()
    # the engine keeps small tables in memory as Arrow; so does the ceiling
    con.register("user_segments", store.dataset(TableId("gold", "user_segments")).to_table())
    lat = []
    t0 = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        con.sql(sql).to_arrow_table()
        lat.append((time.perf_counter() - t) * 1000)
    total = time.perf_counter() - t0
    lat.sort()
    return n / total, statistics.median(lat), lat[int(n * 0.99)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000, help="gold.user_segments rows when the lake is empty")
    ap.add_argument("--duration", type=int, default=5, help="seconds per measurement")
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    ap.add_argument("--lake", type=Path, default=None, help="lake base path (default: a temp dir)")
    ap.add_argument("--loader", choices=["auto", "wrk", "python"], default="auto")
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
        [sys.executable, "-m", "uvicorn", "lakehouse.api.app:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(args.workers), "--no-access-log", "--log-level", "warning"],
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    use_wrk = args.loader == "wrk" or (args.loader == "auto" and shutil.which("wrk"))
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        body = json.dumps({"sql": SQL})
        # warm up (connection pool, table registration, lru caches)
        for _ in range(20):
            httpx.get(url + PREVIEW, headers={"Authorization": f"Bearer {token}"}).raise_for_status()
            httpx.post(url + "/query", json={"sql": SQL}, headers={"Authorization": f"Bearer {token}"}).raise_for_status()
        print(machine())
        print(f"gold.user_segments rows={rows}  uvicorn workers={args.workers}  loader={'wrk' if use_wrk else 'python'}  {args.duration}s per point")
        print(f"{'case':<34}{'clients':>8}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
        for label, path, payload, sql in (
            ("GET preview (limit 100)", PREVIEW, None, "SELECT * FROM user_segments LIMIT 101"),
            ("POST /query gold GROUP BY", "/query", body, SQL.replace("gold.user_segments", "user_segments")),
        ):
            for c in (int(x) for x in args.clients.split(",")):
                rps, p50, p99 = (wrk(url + path, c, args.duration, token, payload, tmp) if use_wrk
                                 else pyload(url + path, c, args.duration, token, payload))
                print(f"{label:<34}{c:>8}{rps:>10.0f}{p50:>9.2f}{p99:>9.2f}")
            rps, p50, p99 = ceiling(store, sql)
            print(f"{'  ceiling: DuckDB in-process':<34}{1:>8}{rps:>10.0f}{p50:>9.2f}{p99:>9.2f}")
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
