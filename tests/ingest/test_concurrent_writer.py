"""A producer appends to landing files in small random chunks — lines split at random bytes —
while ingest runs again and again: nothing is lost, nothing is written twice, nothing
well-formed is quarantined."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.compute as pc

from lakehouse.service import Lakehouse

from support import make_settings

SETTLE_S = 3.0  # far above any pause of the writer below (it never sleeps more than 5 ms)

WRITER = r"""
import json, os, random, sys, time
folder, seed, n_files, n_records = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
streams = []
for f in range(n_files):
    lines = []
    for i in range(n_records):
        if rng.random() < 0.01:
            lines.append('{"event_id": "broken-%d-%d", "user_id": ' % (f, i))  # a malformed record
        else:
            lines.append(json.dumps({"event_id": f"e{f}-{i}", "user_id": f"u{i % 50}", "event_type": "click",
                                     "timestamp": "2026-03-01T%02d:%02d:%02dZ" % (i // 3600 % 24, i // 60 % 60, i % 60),
                                     "properties": {"n": i, "pad": "x" * rng.randint(0, 300)}}))
    data = "\n".join(lines).encode()
    if f % 2 == 0:
        data += b"\n"  # half the files end without a final newline
    streams.append([open(os.path.join(folder, f"live-{f}.ndjson"), "ab", buffering=0), data, 0])
while any(pos < len(data) for _, data, pos in streams):
    s = rng.choice([s for s in streams if s[2] < len(s[1])])
    fh, data, pos = s
    n = rng.randint(1, 4096)
    fh.write(data[pos : pos + n])  # unbuffered: the bytes are in the file, a line cut anywhere
    s[2] = pos + n
    time.sleep(rng.random() * 0.005)
for fh, _, _ in streams:
    fh.close()
print("done", flush=True)
"""


def test_concurrent_writer_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "lake", ingest_settle_s=SETTLE_S)
    lh = Lakehouse(settings)
    folder = settings.landing / "app_events"
    folder.mkdir(parents=True)
    n_files, n_records = 4, 1500
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(folder), "11", str(n_files), str(n_records)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    received = runs = 0
    while writer.poll() is None:  # ingest again and again while the producer writes
        received += lh.ingest(sources=["app_events"]).details["received"]
        runs += 1
    out, err = writer.communicate()
    assert writer.returncode == 0 and out.strip() == "done", err
    assert runs >= 3, "the writer finished before ingest could overlap it"
    # Wait for the files to settle: the last lines without a newline are taken after that.
    last_write = max(p.stat().st_mtime for p in folder.iterdir())
    deadline = time.monotonic() + 60
    while time.time() - last_write < SETTLE_S + 0.1 and time.monotonic() < deadline:
        time.sleep(0.05)
    final = lh.ingest(sources=["app_events"])
    received += final.details["received"]
    assert "waiting" not in final.details["sources"]["app_events"]

    expected_good: set[str] = set()
    expected_bad = 0
    rng_check = random.Random(11)
    for f in range(n_files):
        for i in range(n_records):
            if rng_check.random() < 0.01:
                expected_bad += 1
            else:
                expected_good.add(f"e{f}-{i}")
                rng_check.randint(0, 300)
    bronze = lh.store.dataset("bronze.app_events").to_table(columns=["event_id", "_source"])
    ids = bronze.column("event_id").to_pylist()
    assert len(ids) == len(set(ids)), "a record was written twice"
    assert set(ids) == expected_good, "a well-formed record is missing"
    q = lh.store.dataset("bronze.quarantine").to_table()
    assert q.num_rows == expected_bad
    assert all(r.startswith('{"event_id": "broken-') for r in q.column("raw").to_pylist()), "a good line was quarantined"
    assert set(q.column("reason").to_pylist()) == {"malformed JSON"}
    assert received == bronze.num_rows + q.num_rows == len(expected_good) + expected_bad
    assert pc.count_distinct(bronze.column("_source")).as_py() == bronze.num_rows
    assert lh.ingest(sources=["app_events"]).details["received"] == 0
    json.dumps(final.to_dict())
