"""Property tests of the parser against an independent oracle of the bronze contract.

Hypothesis builds records from the contract — valid values at and near every bound, and
hostile ones: non-finite numbers, out-of-range values, wrong JSON types, blank strings,
trailing commas, NaN/Infinity literals, duplicate keys, byte order marks, blank lines,
odd unicode keys, huge numbers, deep nesting — and writes them as JSON text with its own
serializer (so the text can be invalid in the ways real producers get it wrong).

The oracle never looks at the parser: it reads each line with Python's `json` (strict:
constants refused, duplicate keys refused) and applies the contract's rules as written in
`docs/ingestion.md` with plain Python (`re`, `datetime`, `math`). Parser and oracle must
agree on every line: record or not, good or bad, the reason, every typed value, and
`_rescued_data`.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakehouse.ingest.parse import RecordParser
from lakehouse.ingest.schemas import SCHEMAS, Field

pytestmark = pytest.mark.slow  # left out of `make test-fast`

# -- the oracle -----------------------------------------------------------------------------
WINDOW = (datetime(1900, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC))
TS_MS = (-2208988800000, 7258118400000 - 1)
INT_RANGE = {"int64": (-(2**63), 2**63 - 1), "int32": (-(2**31), 2**31 - 1)}
UNICODE_WS = set("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | {chr(c) for c in range(0x2000, 0x200B)}
JSON_WS = " \t\r\n"
MAX_DEPTH = 64
ISO = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]+))?)?"
    r"(Z|[+-][0-9]{2}(?::?[0-9]{2})?)?"
)


class Dup(Exception):
    pass


def _no_dups(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({k for k, _ in pairs}) != len(pairs):
        raise Dup()
    return dict(pairs)


def _no_constants(name: str) -> Any:
    raise ValueError(name)


def _depth(v: Any) -> int:
    if isinstance(v, dict):
        return 1 + max((_depth(x) for x in v.values()), default=0)
    if isinstance(v, list):
        return 1 + max((_depth(x) for x in v), default=0)
    return 0


def _has_surrogate(v: Any) -> bool:
    if isinstance(v, str):
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(v, dict):
        return any(_has_surrogate(k) or _has_surrogate(x) for k, x in v.items())
    if isinstance(v, list):
        return any(_has_surrogate(x) for x in v)
    return False


def oracle_timestamp(v: str) -> datetime | str:
    """The instant, or why not: 'invalid' or 'outside'."""
    m = ISO.fullmatch(v)
    if not m:
        return "invalid"
    y, mo, d, h, mi = (int(m.group(i)) for i in range(1, 6))
    s = int(m.group(6) or 0)
    frac = (m.group(7) or "")[:6].ljust(6, "0")
    off = m.group(8) or "Z"
    if h > 23 or mi > 59 or s > 59 or not 1 <= mo <= 12:
        return "invalid"
    leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    days = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1]
    if not 1 <= d <= days:
        return "invalid"
    offset = timedelta(0)
    if off != "Z":
        digits = off[1:].replace(":", "")
        oh, om = int(digits[:2]), int(digits[2:] or 0)
        if oh > 23 or om > 59:
            return "invalid"
        offset = timedelta(hours=oh, minutes=om) * (1 if off[0] == "+" else -1)
    if y < 1899 or y > 2200:
        return "outside"
    t = datetime(y, mo, d, h, mi, s, int(frac), tzinfo=UTC) - offset
    return t if WINDOW[0] <= t < WINDOW[1] else "outside"


def _field_value(obj: dict[str, Any], f: Field) -> Any:
    v: Any = obj
    for k in f.keys:
        if not isinstance(v, dict):
            return None
        v = v.get(k)
    return v


def oracle_check(f: Field, v: Any) -> tuple[Any, str | None]:
    """(typed value, None) or (None, why) for a present, non-null value."""
    if f.kind == "json":
        return v, None
    if f.kind == "string":
        if not isinstance(v, str):
            return None, "is not a string"
        if f.required and all(c in UNICODE_WS for c in v):
            return None, "is blank"
        return v, None
    if f.kind == "integer":
        if type(v) is not int:
            return None, "is not a valid integer"
        lo, hi = (TS_MS if f.name == "ts_ms" else INT_RANGE["int32" if f.arrow_type == pa.int32() else "int64"])
        if not lo <= v <= hi:
            return None, f"is out of range [{lo}, {hi}]"
        return v, None
    if f.kind == "number":
        if type(v) not in (int, float):
            return None, "is not a valid number"
        try:
            x = float(v)
        except OverflowError:
            return None, "is out of range (not a finite double)"
        if not math.isfinite(x):
            return None, "is out of range (not a finite double)"
        return x, None
    assert f.kind == "timestamp"
    if not isinstance(v, str):
        return None, "is not a valid timestamp"
    t = oracle_timestamp(v)
    if t == "invalid":
        return None, "is not a valid timestamp"
    if t == "outside":
        return None, "is outside [1900-01-01T00:00:00Z, 2200-01-01T00:00:00Z)"
    return t, None


@dataclass
class Expect:
    reason: str | None = None
    raw: str | None = None
    values: dict[str, Any] | None = None
    rescued: dict[str, Any] | None = None
    rescued_fields: tuple[str, ...] = ()


def oracle(source: str, line: str) -> Expect | None:
    """What the contract says about one line (None: a blank line, not a record)."""
    text = line[1:] if line.startswith("\ufeff") else line
    if text.strip(JSON_WS) == "":
        return None
    raw = text.rstrip("\r\n")
    # First: is it JSON at all (RFC 8259, Unicode text)? Then: unique keys, depth.
    try:  # objects as lists of pairs: every value of a repeated key is looked at
        as_pairs = json.loads(text, parse_constant=_no_constants, object_pairs_hook=lambda p: [list(kv) for kv in p])
    except RecursionError:
        return Expect(reason="nested too deep", raw=raw)
    except ValueError:
        return Expect(reason="malformed JSON", raw=raw)
    if _has_surrogate(as_pairs):  # not Unicode: no UTF-8 reader can hold it
        return Expect(reason="malformed JSON", raw=raw)
    try:
        value = json.loads(text, object_pairs_hook=_no_dups)
    except Dup:
        return Expect(reason="duplicate key", raw=raw)
    if _depth(value) > MAX_DEPTH:
        return Expect(reason="nested too deep", raw=raw)
    if not isinstance(value, dict):
        return Expect(reason="not a JSON object", raw=raw)
    sch = SCHEMAS[source]
    values: dict[str, Any] = {}
    rescued: dict[str, Any] = {k: v for k, v in value.items() if k not in sch.names}
    bad_optional: list[str] = []
    for f in (*sch.fields, *sch.derived):
        label = ".".join(f.keys)
        v = _field_value(value, f)
        if v is None:
            if f.required:
                return Expect(reason=f"missing required field {label!r}", raw=raw)
            values[f.name] = None
            continue
        typed, why = oracle_check(f, v)
        if why is not None:
            if f.required:
                return Expect(reason=f"required field {label!r} {why}", raw=raw)
            rescued[f.name] = v
            bad_optional.append(f.name)
        values[f.name] = typed
    return Expect(values=values, rescued=rescued or None, rescued_fields=tuple(bad_optional))


# -- a JSON writer that can get it wrong ------------------------------------------------------
@dataclass(frozen=True)
class Raw:  # written as is: NaN, -inf, 1e400, "\ud800", ...
    text: str


@dataclass(frozen=True)
class Obj:  # keys may repeat; `trailing` adds a trailing comma
    pairs: tuple[tuple[str, Any], ...]
    trailing: bool = False
    pad: str = ""


@dataclass(frozen=True)
class Arr:
    items: tuple[Any, ...]
    trailing: bool = False
    pad: str = ""


def dump(v: Any, ascii_: bool = False) -> str:
    if isinstance(v, Raw):
        return v.text
    if isinstance(v, Obj):
        p = v.pad
        body = f"{p},{p}".join(f"{json.dumps(k, ensure_ascii=ascii_)}{p}:{p}{dump(x, ascii_)}" for k, x in v.pairs)
        return "{" + p + body + ("," if v.trailing and v.pairs else "") + p + "}"
    if isinstance(v, Arr):
        p = v.pad
        body = f"{p},{p}".join(dump(x, ascii_) for x in v.items)
        return "[" + p + body + ("," if v.trailing and v.items else "") + p + "]"
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    return json.dumps(v, ensure_ascii=ascii_)


# Number and string tokens a serializer would not write; valid JSON or not.
VALID_RAW = ["1e400", "-1e400", "1e-400", "1E+2", "1e3", "-0", "-0.0", "0e0", "123456789012345678901234567890",
             "1" + "0" * 400, '"a\\u0000b"', '"\\u00e9\\u0022"']
INVALID_RAW = ["NaN", "nan", "-NaN", "Infinity", "-Infinity", "inf", "-inf", "INF", "iNf", '"\\ud800"', '"\\udc00x"']
pads = st.sampled_from(["", "", "", "", "", " ", "\t", "\r\n", "  "])
odd_keys = st.sampled_from(['"', "\\", "$", "a.b", "$.x", "é", "\u2028", "ключ", "🙂", "", " ", "event_ID", "Timestamp"])
keys = st.one_of(st.text(min_size=1, max_size=6), odd_keys)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(VALID_RAW).map(Raw),
)
hostile_scalars = st.one_of(st.sampled_from(INVALID_RAW).map(Raw), st.floats(allow_nan=True, allow_infinity=True))


def _unique(pairs: list[tuple[str, Any]]) -> tuple[tuple[str, Any], ...]:
    return tuple({k: v for k, v in pairs}.items())


def json_strategy(hostile: bool) -> st.SearchStrategy[Any]:
    """Nested JSON values; `hostile` ones may hold NaN literals, trailing commas, repeated keys."""
    leaves = st.one_of(*[scalars] * 5, hostile_scalars) if hostile else scalars
    flag = st.integers(0, 9).map(lambda x: x == 0) if hostile else st.just(False)
    return st.recursive(
        leaves,
        lambda kids: st.one_of(
            st.builds(lambda xs, t, p: Arr(tuple(xs), t, p), st.lists(kids, max_size=3), flag, pads),
            st.builds(
                lambda ps, t, p: Obj(tuple(ps) if hostile else _unique(ps), t, p),
                st.lists(st.tuples(keys, kids), max_size=3),
                flag,
                pads,
            ),
        ),
        max_leaves=6,
    )


clean_json = json_strategy(False)
hostile_json = json_strategy(True)


def _deep(depth: int, leaf: Any, as_obj: bool) -> Any:
    v = leaf
    for _ in range(depth):
        v = Obj((("k", v),)) if as_obj else Arr((v,))
    return v


deep_values = st.builds(_deep, st.integers(60, 68), scalars, st.booleans())
whitespace_strings = st.lists(st.sampled_from(sorted(UNICODE_WS)), max_size=3).map("".join)


def _ts_text(y: int, mo: int, d: int, h: int, mi: int, s: int | None, frac: str, sep: str, off: str) -> str:
    sec = "" if s is None else f":{s:02d}" + (f".{frac}" if frac else "")
    return f"{y:04d}-{mo:02d}-{d:02d}{sep}{h:02d}:{mi:02d}{sec}{off}"


offsets = st.one_of(
    st.just(""),
    st.just("Z"),
    st.builds(lambda sg, h, m, c: f"{sg}{h:02d}{':' if c else ''}{m:02d}", st.sampled_from("+-"),
              st.integers(0, 24), st.integers(0, 60), st.booleans()),
    st.builds(lambda sg, h: f"{sg}{h:02d}", st.sampled_from("+-"), st.integers(0, 23)),
)
timestamps = st.one_of(
    st.builds(
        _ts_text,
        st.one_of(st.sampled_from([1, 1899, 1900, 2199, 2200, 9999]), st.integers(1898, 2201)),
        st.integers(1, 12),
        st.integers(1, 31),
        st.integers(0, 23),
        st.integers(0, 59),
        st.one_of(st.none(), st.integers(0, 59)),
        st.text("0123456789", max_size=10),
        st.sampled_from(["T", "T", " "]),
        offsets,
    ),
    st.sampled_from([
        "1900-01-01T00:00:00Z", "1899-12-31T23:59:59.999999Z", "1899-12-31T23:59:59.9999999Z",
        "2199-12-31T23:59:59.999999Z", "2200-01-01T00:00:00Z", "1900-01-01T00:30:00+01:00",
        "2199-12-31T23:30:00-01:00", "2024-01-01T24:00:00Z", "2024-01-01T23:59:60Z", "2024-02-30T00:00:00Z",
        "2024-02-29T12:00:00Z", "2023-02-29T12:00:00Z", "2024-01-01", "2024-01-01t10:00:00z", "infinity",
        "-infinity", "epoch", "99999-01-01T00:00:00Z", "-0044-03-15T00:00:00Z", "10000-01-01T00:00:00Z",
        "2024-01-01T10:00:00 UTC", "2024-01-01T10:00:00+25:00", "2024-01-01T10:00:00.Z", " 2024-01-01T10:00:00Z",
        "2024-1-1T1:00:00Z", "0000-01-01T00:00:00Z", "2024-01-01T10:00:00+05:30:15", "2024-01-01T10:00:00,5Z",
    ]),
)


good_timestamps = st.one_of(
    st.builds(
        _ts_text,
        st.integers(1900, 2199),
        st.integers(1, 12),
        st.integers(1, 28),
        st.integers(0, 23),
        st.integers(0, 59),
        st.one_of(st.none(), st.integers(0, 59)),
        st.text("0123456789", max_size=9),
        st.sampled_from(["T", " "]),
        st.sampled_from(["", "Z", "+00:00", "-05:00", "+0530", "+01"]),
    ),
    st.sampled_from(["1900-01-01T00:00:00Z", "1899-12-31T23:30:00-01:00", "2199-12-31T23:59:59.9999999Z",
                     "2024-02-29T12:00:00Z", "2026-03-01T10:00:00.123456+02:00"]),
    timestamps,
)


def value_for(f: Field, hostile: bool) -> st.SearchStrategy[Any]:
    """Any value for an optional field: valid ones near its bounds, and (when `hostile`)
    invalid ones of every sort."""
    objects = st.builds(lambda x: Obj(_unique(x)), st.lists(st.tuples(keys, scalars), max_size=4))
    if f.kind == "json":
        return st.one_of(clean_json, objects, *([hostile_json, deep_values] if hostile else []))
    if f.kind == "string":
        good = st.text(min_size=1, max_size=10)
        return st.one_of(good, whitespace_strings, *([clean_json, objects, hostile_json] if hostile else []))
    if f.kind == "integer":
        lo, hi = f.bounds
        valid = st.one_of(st.integers(lo, lo + 2), st.integers(hi - 2, hi), st.integers(-1000, 10**6), st.just(Raw("-0")))
        invalid = st.one_of(
            st.integers(lo - 3, lo - 1), st.integers(hi + 1, hi + 3), st.integers(2**64 - 1, 2**66),
            st.floats(-1e20, 1e20),
            st.sampled_from(["12", "1e3", 12.0, 12.7, True, False, "", Raw("1e3"), Raw("1" + "0" * 30)]),
            clean_json, hostile_json,
        )
        return st.one_of(valid, invalid) if hostile else valid
    if f.kind == "number":
        valid = st.one_of(
            st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**70), 2**70),
            st.sampled_from([Raw("1e-400"), Raw("-0"), Raw("1.7976931348623157e308"), Raw("123456789012345678901234567890")]),
        )
        invalid = st.one_of(
            hostile_scalars,
            st.sampled_from([Raw("1e400"), Raw("-1e400"), Raw("1" + "0" * 310), Raw("1.7976931348623159e308"), "12", True, "NaN"]),
            clean_json,
        )
        return st.one_of(valid, invalid) if hostile else valid
    return st.one_of(timestamps, clean_json) if hostile else good_timestamps


@st.composite
def lines(draw: st.DrawFn, source: str) -> str:
    """One line: a record that is clean (most valid, a few values out of range), or hostile."""
    hostile = draw(st.integers(0, 9)) < 4
    sch = SCHEMAS[source]
    pairs: list[tuple[str, Any]] = []
    for f in sch.fields:
        if f.required and draw(st.integers(0, 19)) > 0:
            pairs.append((f.name, draw(_valid_for(f, source) if not hostile or draw(st.booleans()) else value_for(f, True))))
        elif draw(st.integers(0, 3)):
            pairs.append((f.name, draw(st.one_of(st.none(), value_for(f, hostile)))))
    names = {k for k, _ in pairs}
    for _ in range(draw(st.integers(0, 2))):  # unknown fields
        k = draw(keys)
        if k not in names and k not in sch.names:
            names.add(k)
            pairs.append((k, draw(st.one_of(clean_json, *([hostile_json, deep_values] if hostile else [])))))
    trailing = False
    if hostile:
        if draw(st.integers(0, 5)) == 0 and pairs:  # a repeated key
            k, _ = draw(st.sampled_from(pairs))
            pairs.append((k, draw(scalars)))
        trailing = draw(st.integers(0, 5)) == 0
    pairs = draw(st.permutations(pairs))
    doc: Any = Obj(tuple(pairs), trailing=trailing, pad=draw(pads))
    if hostile and draw(st.integers(0, 15)) == 0:
        doc = draw(st.one_of(hostile_json, st.just(Raw("NaN")), st.just(Raw("[1,2,]"))))
    text = dump(doc, ascii_=draw(st.booleans()))
    prefix = draw(st.sampled_from(["", "", "", "", "\ufeff", " ", "\t", "\ufeff "]))
    suffix = draw(st.sampled_from(["", "\n", "\r\n", " \n", "\t", "\r"]))
    return prefix + text + suffix


def _valid_for(f: Field, source: str) -> st.SearchStrategy[Any]:
    """Valid values for a required field, at and near its bounds."""
    if f.kind == "string":
        return st.text(min_size=1, max_size=8).filter(lambda s: not all(c in UNICODE_WS for c in s))
    if f.kind == "timestamp":
        return good_timestamps
    if f.kind == "integer":
        lo, hi = f.bounds
        return st.one_of(st.integers(lo, lo + 3), st.integers(hi - 3, hi), st.integers(-(10**9), 10**9))
    if f.kind == "number":
        return st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(10**6), 10**6))
    if source == "cdc_changes" and f.name == "source":
        return st.builds(
            lambda t, s, extra: Obj((("table", t), ("seq", s), *extra)),
            st.one_of(st.text(min_size=1, max_size=5), st.text(min_size=1, max_size=5), st.integers(0, 5), st.just("  ")),
            st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(2**63 - 1, 2**63), st.just("42"), st.just(1.5), st.none()),
            st.lists(st.tuples(st.sampled_from(["db", "ts_ms", "x"]), scalars), max_size=1, unique_by=lambda kv: kv[0]),
        )
    return clean_json


blank_lines = st.sampled_from(["", " ", "\t", "\r\n", " \t \r\n", "\ufeff", "\ufeff  \n"])


# -- the comparison ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    c.execute("SET TimeZone='UTC'")
    c.execute("SET threads=1")
    return c


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


def disagreements(con: duckdb.DuckDBPyConnection, source: str, batch: list[str]) -> list[str]:
    """Where the parser and the oracle disagree on `batch`, one line each (empty: they agree)."""
    table = pa.table({"position": pa.array(range(len(batch)), pa.int64()), "line": pa.array(batch, pa.large_string())})
    good, bad = RecordParser(SCHEMAS[source], con).parse(table, skip_blank=True)
    got_good = {r["position"]: r for r in good.to_pylist()}
    got_bad = {r["position"]: r for r in bad.to_pylist()}
    out = [f"line {i} is both good and quarantined" for i in sorted(set(got_good) & set(got_bad))]
    sch = SCHEMAS[source]
    for i, line in enumerate(batch):
        want = oracle(source, line)
        where = f"line {i}: {line!r}"
        if want is None:
            if i in got_good or i in got_bad:
                out.append(f"a blank line is not a record: {where}")
            continue
        if want.reason is not None:
            if i not in got_bad:
                out.append(f"should be quarantined ({want.reason}): {where} -> {got_good.get(i)}")
                continue
            b = got_bad[i]
            if want.reason == "duplicate key":
                same_reason = b["reason"].startswith("duplicate key ")
            elif want.reason == "nested too deep":
                same_reason = b["reason"] == "nested deeper than 64 levels"
            else:
                same_reason = b["reason"] == want.reason
            if not same_reason:
                out.append(f"reason {b['reason']!r}, the oracle says {want.reason!r}: {where}")
            if b["raw"] != want.raw:
                out.append(f"raw {b['raw']!r} != {want.raw!r}: {where}")
            continue
        if i not in got_good:
            out.append(f"should be good: {where} -> {got_bad.get(i)}")
            continue
        g = got_good[i]
        assert want.values is not None  # the oracle's own invariant: a good line has its values
        for f in (*sch.fields, *sch.derived):
            expected, actual = want.values[f.name], g[f.name]
            if f.kind == "json":
                same = (actual is None) == (expected is None) and (actual is None or _same_json(json.loads(actual), expected))
                if not same:
                    out.append(f"{f.name}: {actual!r} vs {expected!r}: {where}")
            elif not _same(actual, expected):
                out.append(f"{f.name}: {actual!r} != {expected!r}: {where}")
        rescued = None if g["_rescued_data"] is None else json.loads(g["_rescued_data"])
        if not _same_json(rescued, want.rescued):
            out.append(f"_rescued_data {rescued!r} != {want.rescued!r}: {where}")
        if want.rescued_fields:
            if g["_rescue_reason"] is None:
                out.append(f"no _rescue_reason for {want.rescued_fields}: {where}")
            else:
                out += [f"_rescue_reason does not name {name!r}: {where}"
                        for name in want.rescued_fields if repr(name) not in g["_rescue_reason"]]
        elif g["_rescue_reason"] is not None:
            out.append(f"_rescue_reason {g['_rescue_reason']!r} with nothing rescued: {where}")
    return out


def _same_json(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return bool(a == b)


# LAKEHOUSE_PROPERTY_EXAMPLES=2000 for a deeper search than CI's.
SLOW = settings(max_examples=int(os.environ.get("LAKEHOUSE_PROPERTY_EXAMPLES", "150")), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("source", sorted(SCHEMAS))
@SLOW
@given(data=st.data())
def test_parser_agrees_with_the_contract_oracle(con: duckdb.DuckDBPyConnection, source: str, data: st.DataObject) -> None:
    batch = data.draw(st.lists(st.one_of(lines(source), lines(source), lines(source), blank_lines), min_size=1, max_size=12))
    assert disagreements(con, source, batch) == []


@pytest.mark.parametrize(
    "line",
    [
        '{"event_id":"e","user_id":"u","event_type":"t","timestamp":"2026-01-01T00:00:00Z",}',
        '{"event_id":"e","user_id":"u","event_type":"t","timestamp":"2026-01-01T00:00:00Z","duration_ms":NaN}',
        '{"event_id":"e","user_id":"u","event_type":"t","timestamp":"2026-01-01T00:00:00Z","properties":{"a":[1,-inf]}}',
        '{"event_id":"e","user_id":"u","event_type":"t","timestamp":"2026-01-01T00:00:00Z","properties":[1,2 , ]}',
        '{"event_id":"a","event_id":"b","user_id":"u","event_type":"t","timestamp":"2026-01-01T00:00:00Z"}',
        '{"event_id":"e","user_id":"u","event_type":"t","timestamp":"2026-01-01T00:00:00Z","properties":{"x":{"y":1,"y":2}}}',
        '{"event_id":{"a":1},"user_id":"u","event_type":"t","timestamp":"2026-01-01T00:00:00Z"}',
        '{"event_id":"  \\u3000","user_id":"u","event_type":"t","timestamp":"2026-01-01T00:00:00Z"}',
        '{"event_id":"e","user_id":"u","event_type":"t","timestamp":"99999-01-01T00:00:00Z"}',
        '{"event_id":"e","user_id":"u","event_type":"t","timestamp":"2026-01-01T00:00:00Z","duration_ms":12.7}',
        '\ufeff{"event_id":"e","user_id":"u","event_type":"t","timestamp":"2026-01-01T00:00:00Z"}\r\n',
        '{"event_id":"e","user_id":"u","event_type":"t","timestamp":"2026-01-01T00:00:00Z","a\\"b":1,"\\\\":[],"$.x":null}',
        '{"event_id":"e","user_id":"u","event_type":"t","timestamp":"2026-01-01T00:00:00Z","properties":' + "[" * 70 + "]" * 70 + "}",
    ],
)
def test_examples_from_the_issue(con: duckdb.DuckDBPyConnection, line: str) -> None:
    assert disagreements(con, "app_events", [line]) == []


def test_the_comparison_sees_a_disagreement(con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch) -> None:
    # The properties above are only as strong as the comparison: an oracle that says otherwise
    # than the parser about a line must be reported, whatever the line.
    good = '{"event_id":"e","user_id":"u","event_type":"t","timestamp":"2026-01-01T00:00:00Z"}'
    bad = '{"event_id":"e","user_id":"u","event_type":"t","timestamp":"2026-01-01T00:00:00Z",}'
    assert disagreements(con, "app_events", [good, bad]) == []
    monkeypatch.setattr(sys.modules[__name__], "oracle", lambda source, line: Expect(reason="wrong", raw=line))
    found = disagreements(con, "app_events", [good, bad])
    assert [d.split(":")[0] for d in found] == [
        "should be quarantined (wrong)", "reason 'malformed JSON', the oracle says 'wrong'"]
