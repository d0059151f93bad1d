"""The simulators: deterministic, counted exactly, realistic in shape."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from lakehouse.exceptions import InputError
from lakehouse.service import Lakehouse
from lakehouse.simulate.bad_records import KINDS

START = datetime(2026, 4, 1, tzinfo=UTC)


def _digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*.ndjson"))}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    from support import make_settings

    digests = []
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        lh = Lakehouse(make_settings(tmp_path / name))
        lh.simulate(events=5_000, days=2, start=START, seed=seed)
        digests.append(_digest(lh.settings.landing))
    assert digests[0] == digests[1]
    assert digests[0] != digests[2]


def test_reported_counts_match_the_files(lh: Lakehouse) -> None:
    report = lh.simulate(events=20_000, days=2, start=START, seed=4, bad_fraction=0.07)
    for source, sim in report.sources.items():
        lines = sum(len(Path(p).read_text().splitlines()) for p in sim.outputs)
        assert lines == sim.records
        assert set(sim.kinds) == set(KINDS) and all(sim.kinds[k] > 0 for k in KINDS), source
        assert sim.expected_bronze + sim.expected_quarantine == sim.records


def test_shapes_are_realistic(lh: Lakehouse) -> None:
    lh.simulate(events=60_000, days=7, start=START, seed=8, bad_fraction=0)
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    glob = str(lh.settings.landing / "app_events" / "*.ndjson")
    per_user = [r[0] for r in con.execute(
        f"SELECT count(*) FROM read_json('{glob}') GROUP BY user_id ORDER BY 1 DESC").fetchall()]
    top = sum(per_user[: max(1, len(per_user) // 10)])
    assert top / sum(per_user) > 0.4, "the busiest 10% of users make a large share of events"
    by_hour = dict(con.execute(
        f"SELECT hour(CAST(\"timestamp\" AS TIMESTAMPTZ)), count(*) FROM read_json('{glob}') GROUP BY 1").fetchall())
    assert by_hour[11] > 5 * by_hour.get(3, 1), "daytime is busier than the night"
    logs = str(lh.settings.landing / "service_logs" / "*.ndjson")
    (errors,) = con.execute(f"SELECT count(*) FILTER (WHERE status_code >= 500) FROM read_json('{logs}')").fetchone()
    assert errors > 0


@pytest.mark.parametrize("kwargs", [{"events": 0}, {"days": -1}, {"bad_fraction": 0.9}, {"sources": ["nope"]}])
def test_bad_options_are_refused(lh: Lakehouse, kwargs: dict[str, object]) -> None:
    with pytest.raises(InputError):
        lh.simulate(**kwargs)  # type: ignore[arg-type]
