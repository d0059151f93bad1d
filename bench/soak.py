"""Soak: hostile and normal queries from several clients against a real `lakehouse serve`.

Starts `lakehouse serve` on a free 127.0.0.1 port over a lake built by the real pipeline, then
runs analyst clients (and by default one admin client, the only role without the function
allow-list) that send a mix of: normal queries (repeated and with a fresh literal), previews
with filters, memory and time killers, deep nesting, huge results, authorization-bypass
attempts and values that are hard to render, in every format. Throughout, the server's RSS plus
that of every process under it (the fork server and the query workers) is sampled every 0.2 s.

It fails (exit 1) if any response is a 5xx or a connection error, if a query crashed its worker,
if the server died, if it does
not answer a normal query at the end, if a bypass returned rows, or if the sampled memory ever
exceeded the configured bound: `api.server_memory_mb + api.query_workers * api.worker_memory_mb`.

    python bench/soak.py --minutes 10 --clients 6 [--lake PATH] [--worker-memory-mb 1024] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

ACCEPTS = ["application/json", "text/csv", "application/vnd.apache.arrow.stream", "application/vnd.apache.parquet"]

NORMAL = [
    "SELECT segment, count(*) AS users, avg(engagement_score) AS s FROM gold.user_segments GROUP BY segment ORDER BY segment",
    "SELECT event_date, count(*) AS n FROM silver.app_events GROUP BY event_date ORDER BY event_date",
    "SELECT * FROM gold.daily_summary ORDER BY 1",
    "SELECT s.segment, count(*) FROM gold.user_segments s JOIN silver.users u USING (user_id) GROUP BY 1",
]
FRESH = "SELECT segment, count(*) AS n FROM gold.user_segments WHERE engagement_score > -{n} GROUP BY segment"
KILLERS = [  # analyst-allowed functions only
    "WITH RECURSIVE r(s, n) AS (SELECT 'xy', 0 UNION ALL SELECT s || s, n + 1 FROM r WHERE n < 40) SELECT max(length(s)) FROM r",
    "SELECT length(string_agg(a.user_id || b.user_id || c.user_id, ',')) FROM silver.app_events a, silver.app_events b, silver.app_events c",
    "SELECT count(*) FROM silver.app_events a, silver.app_events b, silver.app_events c, silver.app_events d",
    "SELECT list(a.event_id || b.event_id) FROM silver.app_events a, silver.app_events b",
    "SELECT max(levenshtein(a.event_id || a.user_id, b.event_id)) FROM silver.app_events a, silver.app_events b",
]
ADMIN_KILLERS = [  # no allow-list for admins: only the worker's kernel limits stop these
    "SELECT list_sum(generate_series(1, 2000000000))",
    "SELECT length(repeat('x', 2000000000))",
    "SELECT length(lpad('x', 1500000000, 'y'))",
    "SELECT list_sum(list_resize([1], 400000000, 1))",
    "SELECT length(lpad('x', 200000000, 'y'))",
]
HUGE = [
    "SELECT a.*, b.* FROM silver.app_events a, silver.app_events b",
    "SELECT *, md5(event_id) || md5(user_id) || md5(event_type) AS pad FROM silver.app_events",
]
RENDER = [
    "SELECT 340282366920938463463374607431768211455::UHUGEINT AS u, 'infinity'::TIMESTAMP AS t, [INTERVAL 1 DAY] AS i",
    "SELECT {'a': 'infinity'::DATE, 'b': [1, 2]} AS s, MAP {'k': [1]} AS m, make_timestamp(10000, 1, 1, 0, 0, 0) AS y",
    "SELECT '10101'::BIT AS b, 'a'::ENUM('a', 'b') AS e, '12:00:00+02'::TIMETZ AS tz, '\\xAA'::BLOB AS x",
]
BYPASS = [
    "SELECT count(*) AS n FROM bronze__app_events WHERE EXISTS (WITH bronze__app_events AS (SELECT 1) SELECT 1)",
    "SELECT * FROM bronze__quarantine WHERE EXISTS (WITH bronze__quarantine AS (SELECT 1) SELECT 1)",
    "SELECT * FROM duckdb_tables",
    "SELECT * FROM information_schema.tables",
    "SELECT count(*) FROM (SELECT 1) AS bronze__app_events, bronze__app_events",
    "SELECT * FROM gold.user_segments JOIN bronze.app_events USING (user_id)",
]


def deep(rng: random.Random) -> str:
    d = rng.choice([50, 300, 3000])
    return rng.choice([
        "SELECT " + "(" * d + "1" + ")" * d,
        "SELECT " + " + ".join(["1"] * (d * 3)),
        "SELECT " + "abs(" * d + "1" + ")" * d,
        "SELECT 1 FROM gold.user_segments WHERE " + " AND ".join(["true"] * d),
    ])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tree_rss(pid: int) -> int:
    """RSS of `pid` and every process under it, in bytes (from /proc)."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    total, todo = 0, [pid]
    page = os.sysconf("SC_PAGE_SIZE")
    while todo:
        p = todo.pop()
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * page
        todo += children.get(p, [])
    return total


class Soak:
    def __init__(self, url: str, analyst: list[str], admin: str | None, seconds: float, seed: int) -> None:
        self.url, self.analyst, self.admin, self.seconds, self.seed = url, analyst, admin, seconds, seed
        self.counts: Counter[str] = Counter()
        self.failures: list[str] = []
        self.lock = threading.Lock()

    def _record(self, kind: str, r: httpx.Response | None, err: str | None = None) -> None:
        with self.lock:
            if r is None:
                self.counts[f"{kind}:connection"] += 1
                self.failures.append(f"{kind}: {err}")
                return
            self.counts[f"{kind}:{r.status_code}"] += 1
            if r.status_code >= 500 or "worker exited" in r.text:  # a query must not crash its worker
                self.failures.append(f"{kind}: {r.status_code} {r.text[:200]}")
            if kind == "bypass" and r.status_code == 200:  # an analyst's: admins may read bronze
                self.failures.append(f"bypass returned rows: {r.text[:200]}")

    def client(self, token: str, admin: bool, seed: int) -> None:
        rng = random.Random(seed)
        end = time.monotonic() + self.seconds
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=60) as c:
            while time.monotonic() < end:
                kind = rng.choices(["normal", "fresh", "preview", "killer", "deep", "huge", "render", "bypass"],
                                   weights=[30, 15, 15, 10, 8, 6, 8, 8])[0]
                accept = rng.choice(ACCEPTS) if kind in ("render", "huge", "normal") else "application/json"
                try:
                    if kind == "preview":
                        f = rng.choice(["segment = 'VIP'", f"engagement_score > {rng.randint(0, 100)}",
                                        "length(repeat(user_id, 1000000000)) > 1", "(" * 500 + "true" + ")" * 500,
                                        "lower(segment) LIKE '%a%' AND total_events > 3"])
                        r = c.get("/tables/gold.user_segments/preview", params={"filter": f, "limit": 50})
                    else:
                        sql = {
                            "normal": lambda: rng.choice(NORMAL),
                            "fresh": lambda: FRESH.format(n=rng.randrange(10**9)),
                            "killer": lambda: rng.choice(ADMIN_KILLERS if admin else KILLERS),
                            "deep": lambda: deep(rng),
                            "huge": lambda: rng.choice(HUGE),
                            "render": lambda: rng.choice(RENDER),
                            "bypass": lambda: rng.choice(BYPASS),
                        }[kind]()
                        r = c.post("/query", json={"sql": sql}, headers={"Accept": accept})
                    self._record(f"admin-{kind}" if admin else kind, r)
                except httpx.HTTPError as e:
                    self._record(f"admin-{kind}" if admin else kind, None, repr(e))

    def run(self) -> None:
        threads = [threading.Thread(target=self.client, args=(t, False, self.seed + i)) for i, t in enumerate(self.analyst)]
        if self.admin:
            threads.append(threading.Thread(target=self.client, args=(self.admin, True, self.seed - 1)))
        for t in threads:
            t.start()
        for t in threads:
            t.join()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--clients", type=int, default=4, help="analyst clients")
    ap.add_argument("--admin-clients", type=int, default=1, choices=[0, 1])
    ap.add_argument("--events", type=int, default=5000, help="events simulated when the lake is new")
    ap.add_argument("--lake", type=Path, default=None, help="lake base path (default: a temp dir, built by the pipeline)")
    ap.add_argument("--workers", type=int, default=2, help="query worker processes")
    ap.add_argument("--worker-memory-mb", type=int, default=512)
    ap.add_argument("--server-memory-mb", type=int, default=768)
    ap.add_argument("--timeout-s", type=float, default=2.0, help="query time limit")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = ap.parse_args(argv)

    from lakehouse.access import KeyRing
    from lakehouse.config import Settings
    from lakehouse.contract import TableId
    from lakehouse.metadata.store import MetadataStore
    from lakehouse.service import Lakehouse

    tmp = Path(tempfile.mkdtemp(prefix="lakehouse-soak-"))
    root = args.lake or tmp / "lake"
    settings = Settings.under(root, duckdb_threads=1)
    lh = Lakehouse(settings)
    if not lh.store.exists(TableId("gold", "user_segments")):
        lh.simulate(events=args.events, days=3, seed=args.seed)
        lh.ingest()
        lh.transform()
    meta = MetadataStore.open(settings.metadata_dsn)
    ring = KeyRing(meta)
    analyst = [ring.create("analyst", name=f"soak-{i}").token for i in range(args.clients)]
    admin = ring.create("admin", name="soak-admin").token if args.admin_clients else None
    meta.close()

    port = free_port()
    env = {
        **os.environ,
        "LAKEHOUSE_BASE_PATH": str(root), "LAKEHOUSE_BRONZE_PATH": str(settings.layer_path("bronze")),
        "LAKEHOUSE_SILVER_PATH": str(settings.layer_path("silver")), "LAKEHOUSE_GOLD_PATH": str(settings.layer_path("gold")),
        "LAKEHOUSE_LOGS_DIR": str(settings.logs_path), "LAKEHOUSE_LANDING_PATH": str(settings.landing),
        "LAKEHOUSE_METADATA_URL": settings.metadata_dsn, "LAKEHOUSE_DUCKDB_THREADS": "1",
        "LAKEHOUSE_API__QUERY_WORKERS": str(args.workers), "LAKEHOUSE_API__WORKER_MEMORY_MB": str(args.worker_memory_mb),
        "LAKEHOUSE_API__SERVER_MEMORY_MB": str(args.server_memory_mb), "LAKEHOUSE_API__QUERY_TIMEOUT_S": str(args.timeout_s),
    }
    bound = (args.server_memory_mb + args.workers * args.worker_memory_mb) * 1024 * 1024
    server = subprocess.Popen([sys.executable, "-m", "lakehouse.cli.main", "serve", "--host", "127.0.0.1",
                               "--port", str(port), "--log-level", "warning"], env=env)
    url = f"http://127.0.0.1:{port}"
    peak = 0
    server_peak = 0
    samples = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak, server_peak, samples
        page = os.sysconf("SC_PAGE_SIZE")
        while not stop.wait(0.2):
            peak = max(peak, tree_rss(server.pid))
            try:
                own = int(Path(f"/proc/{server.pid}/statm").read_text().split()[1]) * page
            except (OSError, IndexError, ValueError):
                own = 0
            server_peak = max(server_peak, own)
            samples += 1

    summary: dict[str, Any] = {}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("server did not start")
            time.sleep(0.1)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.monotonic()
        soak = Soak(url, analyst, admin, args.minutes * 60, args.seed)
        soak.run()
        minutes = (time.monotonic() - t0) / 60
        alive = server.poll() is None
        final = httpx.post(f"{url}/query", json={"sql": NORMAL[0]}, headers={"Authorization": f"Bearer {analyst[0]}"},
                           timeout=30) if alive else None
        stop.set()
        sampler.join()
        ok = (alive and final is not None and final.status_code == 200 and not soak.failures and peak <= bound
              and server_peak <= args.server_memory_mb * 2**20)
        summary = {
            "ok": ok, "clients": args.clients + args.admin_clients, "analyst_clients": args.clients,
            "queries": sum(soak.counts.values()), "minutes": round(minutes, 2), "alive": alive,
            "final_status": final.status_code if final is not None else None,
            "peak_rss_mb": round(peak / 2**20, 1), "peak_server_rss_mb": round(server_peak / 2**20, 1),
            "bound_mb": round(bound / 2**20, 1), "server_bound_mb": args.server_memory_mb, "samples": samples,
            "by_kind_status": dict(sorted(soak.counts.items())), "failures": soak.failures[:20],
        }
    finally:
        stop.set()
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"clients={summary['clients']} ({args.clients} analyst) queries={summary['queries']} "
              f"minutes={summary['minutes']} peak RSS server={summary['peak_server_rss_mb']} MiB "
              f"(bound {summary['server_bound_mb']}) server+fork server+workers={summary['peak_rss_mb']} MiB "
              f"(bound {summary['bound_mb']}) alive={summary['alive']} ok={summary['ok']}")
        for k, v in summary["by_kind_status"].items():
            print(f"  {k:<22}{v:>7}")
        for f in summary["failures"]:
            print(f"  FAIL {f}")
    return 0 if summary.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
