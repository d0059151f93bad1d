"""Files -> bronze benchmark: `Lakehouse.ingest()` beside the raw pyarrow/deltalake limits.

Simulates N events (all five sources, 1% bad records) into a landing zone, then times, each
in a fresh process on the same files:

- ours: `Lakehouse.ingest()` (parse + classify + quarantine + Delta commits with exactly-once
  markers), events/s = landing lines received / seconds;
- peer (a) parse: `pyarrow.json.read_json` per file, explicit schema (the contract's flat fields;
  nested objects typed as the union of the shapes in the data, found before timing); run on a *clean copy* of the files with every line our ingest
  quarantines or rescues removed (malformed, missing required field, wrong type, unknown field:
  ~0.6% of lines; `read_json` aborts on the first such line). Duplicates, late and
  out-of-order records stay in;
- peer (b) write: `deltalake.write_deltalake` of (a)'s tables (snappy, one append per landing
  file, partitioned by event date like bronze);
- peer (c) parse + write: (a) then (b) per file, in one process.

    .venv/bin/python bench/ingest_files.py [--events 2000000] [--profile] [--keep] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import log, machine_line, run_step, table, window_start

TARGET_EVENTS_S = 300_000


# -- peer steps (run in child processes) --------------------------------------------------------
def _files(root: Path) -> list[tuple[str, Path]]:
    from lakehouse.config import SOURCES

    return [(s, f) for s in SOURCES for f in sorted((root / s).glob("*.ndjson"))]


def step_clean(landing: str, clean: str) -> dict[str, Any]:
    """Copy the landing files without the lines our ingest would quarantine or rescue (untimed)."""
    import orjson

    from lakehouse.ingest.schemas import SCHEMAS

    py_types: dict[str, tuple[type, ...]] = {
        "VARCHAR": (str,), "TIMESTAMPTZ": (str,), "BIGINT": (int,), "INTEGER": (int,), "DOUBLE": (int, float),
    }
    kept = total = 0
    nested: dict[str, dict[str, Any]] = {}
    for source, f in _files(Path(landing)):
        sch = SCHEMAS[source]
        names = set(sch.names)
        checks = [(fl.name, fl.required, py_types.get(fl.duck_type)) for fl in sch.fields]
        shapes = nested.setdefault(source, {})
        json_fields = [fl.name for fl in sch.fields if fl.duck_type == "JSON"]
        good = []
        lines = f.read_bytes().splitlines(keepends=True)
        total += len(lines)
        for line in lines:
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(obj, dict) or not obj.keys() <= names:
                continue
            ok = True
            for name, required, types in checks:
                v = obj.get(name)
                if v is None:
                    if required:
                        ok = False
                        break
                elif types and (isinstance(v, bool) or not isinstance(v, types)):
                    ok = False
                    break
            if ok:
                good.append(line)
                for name in json_fields:
                    _shape(shapes, name, obj.get(name))
        out = Path(clean) / source / f.name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(b"".join(good))
        kept += len(good)
    (Path(clean) / "nested_shapes.json").write_text(orjson.dumps(nested).decode())
    return {"seconds": 0.0, "kept": kept, "dropped": total - kept}


def _shape(into: dict[str, Any], key: str, value: Any) -> None:
    """Record the JSON shape of `value` under `key` (objects recursively; int and float widen to float)."""
    if value is None:
        into.setdefault(key, None)
    elif isinstance(value, dict):
        sub = into.get(key)
        if not isinstance(sub, dict):
            sub = into[key] = {}
        for k, v in value.items():
            _shape(sub, k, v)
    else:
        kind = {bool: "bool", int: "int", float: "float", str: "str"}.get(type(value), "str")
        old = into.get(key)
        if old is None or old == kind:
            into[key] = kind
        elif {old, kind} == {"int", "float"}:
            into[key] = "float"
        else:
            into[key] = "str"


def _arrow_type(shape: Any) -> Any:
    import pyarrow as pa

    if isinstance(shape, dict):
        return pa.struct([(k, _arrow_type(v)) for k, v in shape.items()])
    return {"bool": pa.bool_(), "int": pa.int64(), "float": pa.float64()}.get(shape, pa.string())


def _read(source: str, path: Path) -> Any:
    import orjson
    import pyarrow as pa
    import pyarrow.json as pj

    from lakehouse.ingest.schemas import SCHEMAS

    # pyarrow's block-wise inference of nested objects is not reliable on CDC envelopes (it
    # guesses timestamp[s] for strings and then fails), so nested fields get an explicit type
    # too: the union of the shapes seen in the clean copy.
    shapes = orjson.loads((path.parent.parent / "nested_shapes.json").read_bytes()).get(source, {})
    explicit = pa.schema([(f.name, _arrow_type(shapes.get(f.name)) if f.duck_type == "JSON" else f.arrow_type)
                          for f in SCHEMAS[source].fields])
    opts = pj.ParseOptions(explicit_schema=explicit, unexpected_field_behavior="infer")
    return pj.read_json(path, parse_options=opts)


def _with_date(source: str, t: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    if source == "cdc_changes":
        ts = pc.multiply(t.column("ts_ms"), 1000).cast(pa.timestamp("us", tz="UTC"))
    else:
        ts = t.column("timestamp")
    # Delta has no column type for all-null JSON fields (e.g. a file whose `before` is always null).
    for i, fld in enumerate(t.schema):
        if pa.types.is_null(fld.type):
            t = t.set_column(i, fld.name, t.column(i).cast(pa.string()))
    return t.append_column("event_date", pc.cast(ts, pa.date32()))


def _write(delta: Path, source: str, t: Any) -> None:
    from deltalake import WriterProperties, write_deltalake

    write_deltalake(str(delta / source), t, mode="append", partition_by=["event_date"],
                    writer_properties=WriterProperties(compression="SNAPPY"))


def step_parse(clean: str, ipc: str) -> dict[str, Any]:
    """(a) read_json per clean file; the tables are kept as Arrow IPC for (b), after the clock stops."""
    import pyarrow as pa

    seconds, rows = 0.0, 0
    for source, f in _files(Path(clean)):
        t0 = time.perf_counter()
        t = _read(source, f)
        seconds += time.perf_counter() - t0
        rows += t.num_rows
        out = Path(ipc) / source / (f.stem + ".arrow")
        out.parent.mkdir(parents=True, exist_ok=True)
        t = _with_date(source, t)
        with pa.OSFile(str(out), "wb") as sink, pa.ipc.new_file(sink, t.schema) as w:
            w.write_table(t)
    return {"seconds": seconds, "rows": rows}


def step_write(ipc: str, delta: str) -> dict[str, Any]:
    """(b) write_deltalake of the parsed tables (loaded into memory before the clock starts)."""
    import pyarrow as pa

    from lakehouse.config import SOURCES

    seconds, rows = 0.0, 0
    for source in SOURCES:
        for f in sorted((Path(ipc) / source).glob("*.arrow")):
            with pa.OSFile(str(f), "rb") as src:
                t = pa.ipc.open_file(src).read_all().combine_chunks()
            t0 = time.perf_counter()
            _write(Path(delta), source, t)
            seconds += time.perf_counter() - t0
            rows += t.num_rows
    return {"seconds": seconds, "rows": rows}


def step_parse_write(clean: str, delta: str) -> dict[str, Any]:
    """(c) read_json then write_deltalake, file by file."""
    rows = 0
    t0 = time.perf_counter()
    for source, f in _files(Path(clean)):
        t = _with_date(source, _read(source, f))
        _write(Path(delta), source, t)
        rows += t.num_rows
    return {"seconds": time.perf_counter() - t0, "rows": rows}


def step_profile_report(stats: str, out: str, top: int = 8) -> dict[str, Any]:
    """Top `top` by cumulative time (printed), and the top 40 plus the lakehouse's own functions (file)."""
    import io
    import pstats

    buf = io.StringIO()
    pstats.Stats(stats, stream=buf).sort_stats("cumulative").print_stats(top)
    head = buf.getvalue()
    full = io.StringIO()
    st = pstats.Stats(stats, stream=full).sort_stats("cumulative")
    st.print_stats(40)
    full.write("\n--- lakehouse functions only ---\n")
    st.print_stats("lakehouse", 30)
    Path(out).write_text(full.getvalue())
    return {"seconds": 0.0, "text": head}


# -- driver -----------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--workdir", type=Path, help="default: a new temp dir under /tmp")
    ap.add_argument("--keep", action="store_true", help="keep the work dir")
    ap.add_argument("--profile", action="store_true", help="also run the ingest once under cProfile (into a second bronze)")
    ap.add_argument("--timeout", type=float, default=3600.0, help="per step, seconds")
    args = ap.parse_args()

    print(machine_line(), flush=True)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-ingest-", dir="/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    root = work / "lake"
    landing, clean, ipc, delta = root / "landing", work / "clean", work / "ipc", work / "peer_delta"
    try:
        log(f"simulating {args.events:,} events into {landing}")
        sim = run_step("simulate", "common", "step_simulate", {
            "root": str(root), "events": args.events, "days": args.days,
            "start": window_start(args.days).isoformat(), "seed": args.seed}, timeout=args.timeout)
        size = sum(f.stat().st_size for f in landing.rglob("*.ndjson"))
        log(f"  {sim.result['records']:,} records, {size / 2**20:,.0f} MiB, {sim.seconds:.1f}s")

        log("ours: Lakehouse.ingest()")
        ours = run_step("ours", "common", "step_ingest", {"root": str(root)}, timeout=args.timeout)
        r = ours.result
        if r["status"] != "success" or not r["balanced"] or r["received"] != sim.result["records"]:
            print(f"!! ingest not as expected: {r} (simulated {sim.result['records']})", file=sys.stderr)
        log(f"  {ours.seconds:.1f}s, received {r['received']:,} = bronze {r['bronze']:,} + quarantine {r['quarantined']:,}")

        log("peer: cleaning a copy of the files (untimed)")
        cl = run_step("clean", "ingest_files", "step_clean", {"landing": str(landing), "clean": str(clean)},
                      timeout=args.timeout)
        log(f"  kept {cl.result['kept']:,} lines, dropped {cl.result['dropped']:,}")
        log("peer (a): pyarrow.json.read_json")
        parse = run_step("parse", "ingest_files", "step_parse", {"clean": str(clean), "ipc": str(ipc)}, timeout=args.timeout)
        log("peer (b): deltalake.write_deltalake")
        write = run_step("write", "ingest_files", "step_write", {"ipc": str(ipc), "delta": str(delta / "b")},
                         timeout=args.timeout)
        log("peer (c): read_json + write_deltalake")
        both = run_step("parse+write", "ingest_files", "step_parse_write", {"clean": str(clean), "delta": str(delta / "c")},
                        timeout=args.timeout)

        prof_note = ""
        if args.profile:
            log("profile: Lakehouse.ingest() under cProfile, into a second bronze (not timed)")
            stats = work / "ingest.prof"
            run_step("profile", "common", "step_ingest", {
                "root": str(work / "lake_prof"), "landing": str(landing), "bronze": str(work / "lake_prof" / "bronze"),
                "profile": str(stats)}, timeout=args.timeout)
            txt = Path(tempfile.gettempdir()) / f"bench-ingest-profile-{args.events}.txt"
            rep = run_step("profile-report", "ingest_files", "step_profile_report", {"stats": str(stats), "out": str(txt)})
            prof_note = rep.result["text"]
            prof_note = f"cProfile (top 8 by cumulative time) written to {txt}\n" + _top_lines(prof_note)

        rate = r["received"] / ours.seconds
        rows: list[list[Any]] = [["ours: Lakehouse.ingest()", r["received"], ours.seconds, rate, "1.00", ours.peak_rss_mib]]
        for label, s in (("peer (a) read_json (parse only)", parse), ("peer (b) write_deltalake (write only)", write),
                         ("peer (c) read_json + write_deltalake", both)):
            peer_rate = s.result["rows"] / s.seconds
            rows.append([label, s.result["rows"], s.seconds, peer_rate, f"{rate / peer_rate:.2f}", s.peak_rss_mib])
        print(f"\nfiles -> bronze: {args.events:,} events simulated = {sim.result['records']:,} landing lines "
              f"({size / 2**20:,.0f} MiB NDJSON, {len(list(landing.rglob('*.ndjson')))} files); "
              f"peers parse a clean copy without the {cl.result['dropped']:,} lines ours quarantines or rescues")
        print(table(["step", "rows", "seconds", "rows/s", "ours/peer", "peak RSS MiB"], rows))
        verdict = "MET" if rate >= TARGET_EVENTS_S else "MISSED"
        print(f"target >= {TARGET_EVENTS_S:,} events/s: {verdict} ({rate:,.0f} events/s); "
              f"ingest balanced: {r['balanced']} (bronze {r['bronze']:,} + quarantine {r['quarantined']:,} "
              f"= received {r['received']:,})")
        if prof_note:
            print("\n" + prof_note)
    finally:
        if args.keep:
            print(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _top_lines(text: str) -> str:
    lines = text.splitlines()
    start = next((i for i, x in enumerate(lines) if x.strip().startswith("ncalls")), 0)
    return "\n".join(x for x in lines[start:] if x.strip())


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
