"""Kafka -> bronze (exactly-once) throughput beside its ceiling, a bare consume loop.

    python bench/ingest_kafka.py [--events 2000000] [--source app_events] [--batch 200000]

Produces N simulated events (bad records included) with the Kafka sink to fresh topics,
then, each in its own subprocess so peak RSS is its own: (1) a bare confluent-kafka
consume loop over the same topics (consume + count bytes: no parse, no write) and
(2) `KafkaIngestor.run()` catching up into empty bronze tables. Needs a broker
(bash scripts/kafka.sh start).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from lakehouse.config import SOURCES, Settings


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"machine: {os.cpu_count()} cores (nproc {len(os.sched_getaffinity(0))}), {ram:.1f} GiB RAM, {cpu}; "
        f"Python {platform.python_version()}; load average before the run: {load}"
    )


def settings_for(root: Path, prefix: str, batch: int) -> Settings:
    return Settings.under(
        root, kafka={"topic_prefix": prefix, "group_id": f"{prefix}bench", "batch_max_messages": batch}
    )


# -- workers (run in subprocesses) ------------------------------------------------------------------
def peak_rss_mib() -> float:
    # VmHWM, not ru_maxrss: the latter keeps the forking parent's peak across exec.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def work_ingest(s: Settings, sources: list[str]) -> dict[str, Any]:
    from lakehouse.ingest.kafka import KafkaIngestor
    from lakehouse.storage.delta import DeltaStore

    t0 = time.perf_counter()
    report = KafkaIngestor(s, DeltaStore(s)).run(sources)
    return {
        "seconds": time.perf_counter() - t0,
        "messages": report.received,
        "balanced": report.balanced,
        "bronze": report.bronze,
        "quarantined": report.quarantined,
        "peak_rss_mib": peak_rss_mib(),
    }


def work_bare(s: Settings, sources: list[str]) -> dict[str, Any]:
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    from lakehouse.ingest.kafka.client import consumer_config

    topics = [s.kafka.topic(x) for x in sources]
    # The ingestor's own client settings (fetch sizes, read_committed, EOF events).
    c = Consumer(consumer_config(s, group_id=f"bare-{uuid.uuid4().hex[:6]}"))
    md = c.list_topics(timeout=10)
    parts = [TopicPartition(t, p, -2) for t in topics for p in md.topics[t].partitions]
    t0 = time.perf_counter()
    c.assign(parts)
    left = {(tp.topic, tp.partition) for tp in parts}
    n = size = 0
    while left:
        for m in c.consume(num_messages=20_000, timeout=0.25):
            err = m.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    left.discard((m.topic(), m.partition()))
                continue
            n += 1
            size += len(m.value() or b"")
    seconds = time.perf_counter() - t0
    c.close()
    return {"seconds": seconds, "messages": n, "bytes": size, "peak_rss_mib": peak_rss_mib()}


def run_worker(
    kind: str, root: Path, prefix: str, batch: int, sources: list[str]
) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        kind,
        "--root",
        str(root),
        "--prefix",
        prefix,
        "--batch",
        str(batch),
        "--sources",
        ",".join(sources),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    if proc.wait():
        raise SystemExit(f"{kind} worker failed ({proc.returncode})")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument(
        "--source", choices=SOURCES, help="only this source's topic (default: all five)"
    )
    ap.add_argument("--batch", type=int, default=200_000, help="batch_max_messages")
    ap.add_argument("--worker", choices=("ingest", "bare"), help=argparse.SUPPRESS)
    ap.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--prefix", help=argparse.SUPPRESS)
    ap.add_argument("--sources", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        s = settings_for(args.root, args.prefix, args.batch)
        fn = work_ingest if args.worker == "ingest" else work_bare
        print(json.dumps(fn(s, args.sources.split(","))))
        return

    from lakehouse.simulate import simulate
    from lakehouse.simulate.kafka_sink import KafkaSink

    print(machine())
    sources = [args.source] if args.source else list(SOURCES)
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    with tempfile.TemporaryDirectory(prefix="lakehouse-bench-") as tmp:
        root = Path(tmp)
        s = settings_for(root, prefix, args.batch)
        sink = KafkaSink(s)
        t0 = time.perf_counter()
        sim = simulate(sink, events=args.events, days=7, seed=11, sources=sources)
        sink.close()
        produce_s = time.perf_counter() - t0
        print(
            f"produced {sim.records:,} messages to {len(sources)} topic(s) in {produce_s:.1f} s "
            f"({sim.records / produce_s:,.0f} msg/s incl. generating them), {s.kafka.partitions} partitions each"
        )
        bare = run_worker("bare", root, prefix, args.batch, sources)
        ours = run_worker("ingest", root, prefix, args.batch, sources)
        rb = bare["messages"] / bare["seconds"]
        ro = ours["messages"] / ours["seconds"]
        print(f"{'':34}{'messages':>12}{'seconds':>9}{'msg/s':>12}{'peak RSS':>11}")
        print(
            f"{'bare consume loop (ceiling)':34}{bare['messages']:>12,}{bare['seconds']:>9.2f}{rb:>12,.0f}"
            f"{bare['peak_rss_mib']:>8.0f} MiB"
        )
        print(
            f"{'KafkaIngestor.run (exactly-once)':34}{ours['messages']:>12,}{ours['seconds']:>9.2f}{ro:>12,.0f}"
            f"{ours['peak_rss_mib']:>8.0f} MiB"
        )
        print(
            f"ratio: {ro / rb:.2f} of the ceiling; target >= 150,000 events/s -> "
            f"{'met' if ro >= 150_000 else 'NOT met'}; balanced={ours['balanced']}, "
            f"bronze={ours['bronze']:,}, quarantined={ours['quarantined']:,}"
        )
        admin_cleanup(s, sources)


def admin_cleanup(s: Settings, sources: list[str]) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": s.kafka.bootstrap})  # alive until the futures resolve
    futures = admin.delete_topics([s.kafka.topic(x) for x in sources])
    for f in futures.values():
        with contextlib.suppress(Exception):  # best effort: retention cleans up anyway
            f.result(timeout=30)


if __name__ == "__main__":
    main()
