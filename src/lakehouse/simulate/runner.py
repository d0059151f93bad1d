"""`lakehouse simulate`: generate the five sources, mix in bad records, deliver to a sink."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import numpy as np

from lakehouse.config import SOURCES
from lakehouse.exceptions import InputError
from lakehouse.results import SimulationReport, SourceSim
from lakehouse.simulate.bad_records import KINDS, inject
from lakehouse.simulate.sinks import Sink
from lakehouse.simulate.sources import generate
from lakehouse.simulate.world import US_PER_S, to_epoch_us


def default_start(days: int) -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days)


def simulate(
    sink: Sink,
    *,
    events: int = 150_000,
    days: int = 7,
    start: datetime | None = None,
    seed: int = 42,
    bad_fraction: float = 0.01,
    sources: list[str] | None = None,
) -> SimulationReport:
    """Deterministic for (events, days, start, seed): the same call writes the same records."""
    if events <= 0:
        raise InputError("--events must be positive")
    if days <= 0:
        raise InputError("--days must be positive")
    if not 0 <= bad_fraction < 0.5:
        raise InputError("--bad-fraction must be in [0, 0.5)")
    unknown = set(sources or []) - set(SOURCES)
    if unknown:
        raise InputError(f"unknown source(s): {', '.join(sorted(unknown))}", hint=f"choose from {', '.join(SOURCES)}")
    start = start or default_start(days)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    t0 = time.perf_counter()
    tag = f"{start:%Y%m%dT%H%M%S}-s{seed}"
    report = SimulationReport(seed=seed, start=start.isoformat(), days=days)
    _produce(sink, report, events, days, to_epoch_us(start), seed, tag, None, bad_fraction, sources)
    report.seconds = round(time.perf_counter() - t0, 3)
    return report


def simulate_rate(
    sink: Sink,
    *,
    rate: int,
    duration_s: float,
    seed: int = 42,
    bad_fraction: float = 0.01,
    tick_s: float = 1.0,
    sources: list[str] | None = None,
) -> SimulationReport:
    """Produce about `rate` records per second, stamped with the wall clock, for `duration_s`."""
    if rate <= 0 or duration_s <= 0:
        raise InputError("--rate and --duration must be positive")
    report = SimulationReport(seed=seed, start=datetime.now(UTC).isoformat(), days=0)
    t0 = time.perf_counter()
    tick = 0
    while time.perf_counter() - t0 < duration_s:
        now = datetime.now(UTC)
        tag = f"{now:%Y%m%dT%H%M%S%f}-s{seed}-r{tick}"
        span = int(tick_s * US_PER_S)
        _produce(sink, report, int(rate * tick_s), 1, to_epoch_us(now), seed + tick, tag, span, bad_fraction, sources)
        tick += 1
        sleep = t0 + tick * tick_s - time.perf_counter()
        if sleep > 0:
            time.sleep(sleep)
    report.seconds = round(time.perf_counter() - t0, 3)
    return report


def _produce(
    sink: Sink,
    report: SimulationReport,
    events: int,
    days: int,
    start_us: int,
    seed: int,
    tag: str,
    span_us: int | None,
    bad_fraction: float,
    sources: list[str] | None,
) -> None:
    tables = generate(events, days, start_us, seed, tag, span_us)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    for source in SOURCES:
        stream = inject(source, tables[source], bad_fraction, rng)
        if sources and source not in sources:
            continue
        s = report.sources.setdefault(source, SourceSim(kinds=dict.fromkeys(KINDS, 0)))
        s.outputs += sink.write(source, tag, stream)
        s.records += stream.records
        s.expected_quarantine += stream.expected_quarantine
        s.expected_bronze += stream.records - stream.expected_quarantine
        for k, v in stream.kinds.items():
            s.kinds[k] += v
