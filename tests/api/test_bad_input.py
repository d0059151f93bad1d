"""Bad input never gets a 500: deep nesting, values and types every format must carry, odd PATCH
bodies. Each either answers 4xx with the one error shape, or the correct value."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import quote

import httpx
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FORMATS = ["application/json", "text/csv", "application/vnd.apache.arrow.stream", "application/vnd.apache.parquet"]
PREVIEW = "/tables/gold.user_segments/preview"


def _flaws(r: Any) -> list[str]:
    """What makes a response neither a value nor a 4xx in the one error shape (empty: nothing)."""
    if r.status_code >= 500:
        return [f"{r.status_code}: {r.text[:300]}"]
    if r.status_code < 400:
        return []
    err = r.json().get("error")
    if not isinstance(err, dict):
        return [f"{r.status_code} without the error shape: {r.text[:300]}"]
    message = err.get("message")
    flaws = [] if set(err) == {"code", "message", "details"} else [f"error keys {sorted(err)}"]
    if not message or not isinstance(message, str):
        flaws.append(f"no message: {err}")
    elif "\n" in message or "Traceback" in message:
        flaws.append(f"the message is not one line: {message[:300]!r}")
    return flaws


@pytest.mark.parametrize(("response", "flawed"), [
    (httpx.Response(200, json={"rows": []}), False),
    (httpx.Response(422, json={"error": {"code": "bad_sql", "message": "no", "details": {}}}), False),
    (httpx.Response(500, text="Internal Server Error"), True),
    (httpx.Response(400, json={"detail": "not the one shape"}), True),
    (httpx.Response(400, json={"error": {"code": "x", "message": "no"}}), True),
    (httpx.Response(400, json={"error": {"code": "x", "message": "", "details": {}}}), True),
    (httpx.Response(400, json={"error": {"code": "x", "message": "Traceback (most...", "details": {}}}), True),
    (httpx.Response(400, json={"error": {"code": "x", "message": "one\ntwo", "details": {}}}), True),
])
def test_the_response_check_can_fail(response: httpx.Response, flawed: bool) -> None:
    assert bool(_flaws(response)) is flawed, _flaws(response)


def _nested(kind: str, depth: int) -> str:
    inner = "engagement_score"
    for _ in range(depth):
        inner = {
            "parens": f"({inner})",
            "neg": f"-({inner})",
            "plus": f"(1 + {inner})",
            "func": f"abs({inner})",
            "case": f"CASE WHEN true THEN {inner} END",
            "list": f"[{inner}][1]",
            "coalesce": f"coalesce({inner}, 0)",
            "cast": f"CAST({inner} AS DOUBLE)",
        }[kind]
    return inner


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(kind=st.sampled_from(["parens", "neg", "plus", "func", "case", "list", "coalesce", "cast"]),
       depth=st.one_of(st.integers(1, 60), st.integers(150, 3000)))
def test_deep_nesting_in_sql_and_filters_is_never_a_500(client: TestClient, keys: dict[str, dict[str, str]],
                                                        kind: str, depth: int) -> None:
    expr = _nested(kind, depth)
    r = client.post("/query", headers=keys["analyst"], json={"sql": f"SELECT {expr} AS v FROM gold.user_segments LIMIT 1"})
    assert _flaws(r) == []
    if depth <= 60:
        assert r.status_code == 200
    # A URL carries at most 64 KiB of query string (the HTTP client refuses more); 30,000
    # characters of filter still nest far past any parser's recursion limit.
    f = client.get(PREVIEW, headers=keys["reader"], params={"filter": f"{expr[:30_000]} >= 0", "limit": 1})
    assert _flaws(f) == []


@pytest.mark.parametrize("text", [
    "(" * 5000 + "1" + ")" * 5000,
    "SELECT " + "(" * 3000 + "1" + ")" * 3000,
    "SELECT " + " + ".join(["1"] * 20000),
    "SELECT " + "NOT " * 5000 + "true",
    "SELECT " + "- " * 5000 + "1",
    "SELECT 1 FROM gold.user_segments WHERE " + " AND ".join(["true"] * 10000),
    "SELECT " + "abs(" * 2000 + "1" + ")" * 2000,
    "SELECT " + "(SELECT " * 500 + "1" + ")" * 500,
    "SELECT " + "[" * 2000 + "1" + "]" * 2000,
])
def test_pathological_sql_is_a_4xx(client: TestClient, keys: dict[str, dict[str, str]], text: str) -> None:
    r = client.post("/query", headers=keys["analyst"], json={"sql": text})
    assert _flaws(r) == []
    r = client.get(PREVIEW, headers=keys["reader"], params={"filter": text.removeprefix("SELECT ")[:4000]})
    assert _flaws(r) == []


# (expression, exact JSON value when known)
VALUES: list[tuple[str, Any]] = [
    ("340282366920938463463374607431768211455::UHUGEINT", "340282366920938463463374607431768211455"),
    ("340282366920938463463374607431768211454::UHUGEINT", "340282366920938463463374607431768211454"),
    ("(-170141183460469231731687303715884105727)::HUGEINT", "-170141183460469231731687303715884105727"),
    ("170141183460469231731687303715884105727::HUGEINT", "170141183460469231731687303715884105727"),
    ("12345678901234567890123456789012345678::DECIMAL(38,0)", "12345678901234567890123456789012345678"),
    ("-9.9999999999999999999999999999999999999::DECIMAL(38,37)", "-9.9999999999999999999999999999999999999"),
    ("123456789012345678901234567890123456789012345::BIGNUM", "123456789012345678901234567890123456789012345"),
    ("'10101'::BIT", "10101"),
    ("union_value(k := 'x')::UNION(k VARCHAR, n INT)", "x"),
    ("'b'::ENUM('a', 'b')", "b"),
    ("'12:00:00+02'::TIMETZ", "12:00:00+02"),
    ("INTERVAL 1 MONTH + INTERVAL 3 DAY", "1 month 3 days"),
    ("'infinity'::TIMESTAMP", "infinity"),
    ("'-infinity'::TIMESTAMP", "-infinity"),
    ("'infinity'::TIMESTAMPTZ", "infinity"),
    ("'infinity'::DATE", "infinity"),
    ("'infinity'::TIMESTAMP_NS", "infinity"),
    ("'0044-03-15 (BC)'::DATE", "0044-03-15 (BC)"),
    ("make_timestamp(10000, 1, 1, 0, 0, 0)", "10000-01-01 00:00:00"),
    ("make_date(-44, 3, 15)", None),
    ("[340282366920938463463374607431768211455::UHUGEINT]", "[340282366920938463463374607431768211455]"),
    ("[['infinity'::TIMESTAMP]]", None),
    ("{'a': 'infinity'::DATE, 'b': [1, 2]}", None),
    ("[INTERVAL 1 DAY]", "[1 day]"),
    ("MAP {'a': [1, 2]}", None),
    ("{'a': 1, 'b': [1, 2]}", {"a": 1, "b": [1, 2]}),
    ("[[1, 2], [3]]", [[1, 2], [3]]),
    ("'\\xAA'::BLOB", None),
    ("[1, 2]::INTEGER[2]", None),
    ("NULL", None),
    ("'nan'::DOUBLE", None),
    ("uuid()", None),
]


@pytest.mark.parametrize(("expr", "expected"), VALUES)
def test_every_type_in_every_format_is_a_value_or_a_4xx(client: TestClient, keys: dict[str, dict[str, str]],
                                                        expr: str, expected: Any) -> None:
    body = {"sql": f"SELECT {expr} AS v"}
    for accept in FORMATS:
        r = client.post("/query", headers={**keys["admin"], "Accept": accept}, json=body)
        assert _flaws(r) == []
        assert r.status_code == 200, (accept, r.text[:300])
        if accept == "application/json":
            rows = r.json()["rows"]
            assert len(rows) == 1
            if expected is not None:
                assert rows[0][0] == expected
        elif accept == "application/vnd.apache.arrow.stream":
            assert ipc.open_stream(r.content).read_all().num_rows == 1
        elif accept == "application/vnd.apache.parquet":
            assert pq.read_table(io.BytesIO(r.content)).num_rows == 1
        else:
            assert len(r.text.splitlines()) >= 2


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(n=st.integers(0, 2**128 - 1), m=st.integers(-(2**127) + 1, 2**127 - 1))
def test_wide_integers_come_back_exact(client: TestClient, keys: dict[str, dict[str, str]], n: int, m: int) -> None:
    r = client.post("/query", headers=keys["analyst"], json={
        "sql": f"SELECT {n}::UHUGEINT AS u, ({m})::HUGEINT AS h, [{n}::UHUGEINT] AS l"})
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == [[str(n), str(m), f"[{n}]"]]


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(year=st.integers(-290000, 290000), kind=st.sampled_from(["TIMESTAMP", "DATE", "TIMESTAMPTZ"]),
       accept=st.sampled_from(FORMATS))
def test_any_year_renders(client: TestClient, keys: dict[str, dict[str, str]], year: int, kind: str, accept: str) -> None:
    cast = f"CAST(make_timestamp({year}, 6, 1, 12, 0, 0) AS {kind})"
    r = client.post("/query", headers={**keys["analyst"], "Accept": accept}, json={"sql": f"SELECT {cast} AS v, [{cast}] AS l"})
    assert _flaws(r) == []


@pytest.mark.parametrize("body", [
    {"column_descriptions": None}, {"tags": None}, {"pii_columns": None}, {"owner": None},
    {"description": None, "retention_days": None},
    {"column_descriptions": {}}, {"tags": []},
])
def test_patch_with_nulls_is_not_a_500(client: TestClient, keys: dict[str, dict[str, str]], body: dict[str, Any]) -> None:
    r = client.patch("/catalog/gold.user_segments", headers=keys["admin"], json=body)
    assert r.status_code == 200, r.text
    for key, value in body.items():
        if value == {}:  # column descriptions merge: an empty map changes nothing
            continue
        got = r.json()[key]
        assert got == value or (value is None and got in ([], {}))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=30))
def test_any_table_name_in_a_path_is_a_value_or_a_4xx(client: TestClient, keys: dict[str, dict[str, str]],
                                                        name: str) -> None:
    # Control characters included: an unknown name is echoed in the error, escaped, on one line.
    for path in (f"/tables/{quote(name, safe='')}", f"/tables/{quote(name, safe='')}/preview"):
        r = client.get(path, headers=keys["reader"])
        assert _flaws(r) == [], path
