"""The simulated world all five sources share: users with skewed activity, and sessions
with a diurnal rhythm, pauses inside them, and events spaced like real use.

Everything is vectorised with numpy and deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

US_PER_S = 1_000_000
DAY_US = 86_400 * US_PER_S

# Share of a day's activity in each UTC hour: quiet nights, a late-morning peak, an evening bump.
DIURNAL = np.array(
    [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3.5, 4.5, 5.5, 6, 6, 5.5, 5, 4.5, 4.5, 4.8, 5.5, 6, 5.5, 4, 2.8, 1.8]
)
DIURNAL = DIURNAL / DIURNAL.sum()

APP_TYPES = np.array(["ios", "android", "web"])
COUNTRIES = np.array(["US", "GB", "DE", "FR", "IN", "BR", "JP", "CA", "ES", "NL"])
PLANS = np.array(["free", "pro", "enterprise"])


@dataclass
class Users:
    ids: np.ndarray  # object array of str
    weight: np.ndarray  # activity weight, sums to 1
    app_type: np.ndarray
    country: np.ndarray
    plan: np.ndarray
    created_us: np.ndarray  # signup time (epoch µs)


@dataclass
class Sessions:
    user: np.ndarray  # index into Users
    start_us: np.ndarray


def to_epoch_us(dt: datetime) -> int:
    return int(dt.timestamp() * US_PER_S)


def make_users(rng: np.random.Generator, n: int, start_us: int, end_us: int, tag: str) -> Users:
    # Pareto weights: a few heavy users, a long tail of occasional ones.
    w = rng.pareto(1.3, n) + 0.05
    w = w / w.sum()
    ids = np.array([f"u{tag}{i:07d}" for i in range(n)], dtype=object)
    # 80% existed before the window (they arrive in the CDC snapshot), 20% sign up inside it.
    before = rng.random(n) < 0.8
    created = np.where(
        before,
        start_us - rng.integers(1, 365, n) * DAY_US,
        start_us + (rng.random(n) * (end_us - start_us) * 0.9).astype(np.int64),
    )
    return Users(
        ids=ids,
        weight=w,
        app_type=APP_TYPES[rng.choice(3, n, p=[0.4, 0.4, 0.2])],
        country=COUNTRIES[rng.integers(0, len(COUNTRIES), n)],
        plan=PLANS[rng.choice(3, n, p=[0.7, 0.25, 0.05])],
        created_us=created.astype(np.int64),
    )


def diurnal_times(rng: np.random.Generator, n: int, start_us: int, days: int, span_us: int | None = None) -> np.ndarray:
    """Times over `days` with the diurnal rhythm; or uniform over `span_us` (rate mode)."""
    if span_us is not None:
        return start_us + rng.integers(0, max(span_us, 1), n)
    day = rng.integers(0, max(days, 1), n)
    hour = rng.choice(24, n, p=DIURNAL)
    within = rng.integers(0, 3600 * US_PER_S, n)
    return start_us + day * DAY_US + hour * 3600 * US_PER_S + within


def make_sessions(
    rng: np.random.Generator, users: Users, n: int, start_us: int, days: int, span_us: int | None = None
) -> Sessions:
    user = rng.choice(len(users.ids), n, p=users.weight)
    start = diurnal_times(rng, n, start_us, days, span_us)
    # A session cannot start before its user signed up.
    start = np.maximum(start, users.created_us[user] + 60 * US_PER_S)
    order = np.argsort(start, kind="stable")
    return Sessions(user=user[order], start_us=start[order])


def session_timeline(
    rng: np.random.Generator, sessions: Sessions, mean_len: float, mean_gap_s: float, pause_p: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expand sessions into events: (session index, event time µs, index within session).

    Gaps are exponential; with probability `pause_p` a gap is a pause of 10–50 minutes, so
    some visits split into two sessions under the 30-minute rule — as real ones do.
    """
    n = len(sessions.start_us)
    lengths = 1 + rng.geometric(1.0 / mean_len, n) - 1
    lengths = np.maximum(lengths, 1)
    sess = np.repeat(np.arange(n), lengths)
    total = int(lengths.sum())
    gaps = rng.exponential(mean_gap_s, total) * US_PER_S
    pauses = rng.random(total) < pause_p
    gaps[pauses] = rng.uniform(10 * 60, 50 * 60, int(pauses.sum())) * US_PER_S
    first = np.cumsum(lengths) - lengths  # each session's first event (none when there are no sessions)
    gaps[first] = 0
    csum = np.cumsum(gaps)
    offset = csum - np.repeat(csum[first], lengths)
    times = sessions.start_us[sess] + offset.astype(np.int64)
    within = np.arange(total) - np.repeat(first, lengths)
    return sess, times, within
