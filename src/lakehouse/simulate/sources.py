"""The five sources, generated as clean Arrow tables (bad records are added later).

`generate` returns one table per source with ISO-8601 UTC timestamps as strings, the way
producers send them; nested objects are JSON text in columns listed in `JSON_COLUMNS`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.simulate.world import (
    DAY_US,
    PLANS,
    US_PER_S,
    Users,
    diurnal_times,
    make_sessions,
    make_users,
    session_timeline,
)

JSON_COLUMNS: dict[str, tuple[str, ...]] = {
    "app_events": ("properties",),
    "cdc_changes": ("before", "after", "source"),
}

EVENT_TYPES = np.array(["page_view", "click", "scroll", "share", "purchase", "search"])
EVENT_P = np.array([0.38, 0.28, 0.16, 0.04, 0.04, 0.10])
PAGES = np.array(["home", "search", "product", "category", "cart", "checkout", "account", "help", "blog"])
PAGE_P = np.array([0.22, 0.16, 0.24, 0.12, 0.08, 0.05, 0.06, 0.03, 0.04])
ENDPOINTS = np.array(
    ["/api/v1/products", "/api/v1/search", "/api/v1/cart", "/api/v1/checkout", "/api/v1/users/me", "/api/v1/recommendations"]
)
ENDPOINT_P = np.array([0.3, 0.22, 0.15, 0.05, 0.18, 0.10])
ENDPOINT_LATENCY = np.array([40.0, 120.0, 60.0, 250.0, 30.0, 180.0])  # median ms
SERVICES = np.array(["catalog", "search", "cart", "payments", "accounts", "recs"])


@dataclass(frozen=True)
class Plan:
    """How many records of each source one run produces."""

    app_events: int
    clickstream: int
    service_logs: int
    users: int

    @classmethod
    def for_total(cls, events: int) -> Plan:
        return cls(
            app_events=int(events * 0.45),
            clickstream=int(events * 0.30),
            service_logs=int(events * 0.19),
            users=max(50, events // 120),
        )


def iso(us: np.ndarray) -> pa.Array:
    ts = pa.array(us.astype(np.int64), pa.timestamp("us", tz="UTC"))
    return pc.strftime(ts, format="%Y-%m-%dT%H:%M:%SZ")


def ids(prefix: str, n: int, start: int = 0) -> pa.Array:
    nums = pa.array(np.arange(start, start + n, dtype=np.int64)).cast(pa.string())
    return pc.binary_join_element_wise(prefix, nums, "")


def pick(rng: np.random.Generator, values: np.ndarray, p: np.ndarray, n: int) -> np.ndarray:
    return values[rng.choice(len(values), n, p=p / p.sum())]


def generate(
    events: int, days: int, start_us: int, seed: int, tag: str, span_us: int | None = None
) -> dict[str, pa.Table]:
    """All five sources for `events` records in total over `days` from `start_us`.

    `span_us` replaces the day-long diurnal window with a short uniform one (rate mode).
    """
    ss = np.random.SeedSequence(seed)
    r_world, r_app, r_click, r_tx, r_logs, r_cdc = (np.random.default_rng(s) for s in ss.spawn(6))
    plan = Plan.for_total(events)
    end_us = start_us + (span_us if span_us is not None else days * DAY_US)
    users = make_users(r_world, plan.users, start_us, end_us, tag="")
    sessions = make_sessions(r_world, users, max(1, plan.app_events // 7), start_us, days, span_us)

    app = _app_events(r_app, users, sessions, plan, tag)
    clicks = _clickstream(r_click, users, sessions, plan, tag)
    tx = _transactions(r_tx, app, tag)
    logs = _service_logs(r_logs, users, plan, start_us, days, tag, span_us)
    cdc = _cdc(r_cdc, users, tx, start_us, end_us, seed)
    return {"app_events": app, "clickstream": clicks, "cdc_changes": cdc, "transactions": tx, "service_logs": logs}


def _app_events(rng: np.random.Generator, users: Users, sessions: object, plan: Plan, tag: str) -> pa.Table:
    from lakehouse.simulate.world import Sessions

    assert isinstance(sessions, Sessions)
    sess, times, within = session_timeline(rng, sessions, mean_len=7.0, mean_gap_s=40.0, pause_p=0.02)
    n = len(times)
    etype = pick(rng, EVENT_TYPES, EVENT_P, n)
    etype[within == 0] = "app_open"
    user = sessions.user[sess]
    screens = pick(rng, PAGES, PAGE_P, n)
    props = pc.binary_join_element_wise('{"screen":"', pa.array(screens), '"}', "")
    order = np.argsort(times, kind="stable")
    return pa.table(
        {
            "event_id": ids(f"evt-{tag}-", n),
            "user_id": pa.array(users.ids[user][order], pa.string()),
            "event_type": pa.array(etype[order]),
            "timestamp": iso(times[order]),
            "app_type": pa.array(users.app_type[user][order]),
            "app_version": pa.array(pick(rng, np.array(["3.2.0", "3.3.1", "3.4.0"]), np.array([0.2, 0.3, 0.5]), n)),
            "session_id": pc.binary_join_element_wise(f"ses-{tag}-", pa.array(sess[order]).cast(pa.string()), ""),
            "duration_ms": pa.array(rng.lognormal(7.0, 1.0, n).astype(np.int64)),
            "properties": props.take(pa.array(order)),
            "_t": pa.array(times[order]),
        }
    )


def _clickstream(rng: np.random.Generator, users: Users, sessions: object, plan: Plan, tag: str) -> pa.Table:
    from lakehouse.simulate.world import Sessions

    assert isinstance(sessions, Sessions)
    # Click trails cover a share of the app sessions, with their own pacing.
    keep = rng.random(len(sessions.start_us)) < min(1.0, plan.clickstream / max(1, len(sessions.start_us) * 5))
    sub = Sessions(user=sessions.user[keep], start_us=sessions.start_us[keep] + 5 * US_PER_S)
    sess, times, within = session_timeline(rng, sub, mean_len=5.0, mean_gap_s=55.0, pause_p=0.03)
    n = len(times)
    page = pick(rng, PAGES, PAGE_P, n)
    page[within == 0] = np.where(rng.random(int((within == 0).sum())) < 0.6, "home", "product")
    order = np.argsort(times, kind="stable")
    referrer = pick(rng, np.array(["google", "direct", "email", "social", "ads"]), np.array([0.4, 0.3, 0.1, 0.1, 0.1]), n)
    return pa.table(
        {
            "click_id": ids(f"clk-{tag}-", n),
            "user_id": pa.array(users.ids[sub.user[sess]][order], pa.string()),
            "page_name": pa.array(page[order]),
            "timestamp": iso(times[order]),
            "session_hint": pc.binary_join_element_wise(f"cs-{tag}-", pa.array(sess[order]).cast(pa.string()), ""),
            "referrer": pa.array(referrer[order]),
            "device": pa.array(users.app_type[sub.user[sess]][order]),
            "scroll_depth": pa.array(np.round(rng.beta(2.0, 2.5, n) * 100, 1)[order]),
            "time_on_page_ms": pa.array(rng.lognormal(9.5, 0.8, n).astype(np.int64)[order]),
        }
    )


def _transactions(rng: np.random.Generator, app: pa.Table, tag: str) -> pa.Table:
    purchases = app.filter(pc.equal(app.column("event_type"), "purchase"))
    n = purchases.num_rows
    ts = purchases.column("_t").to_numpy()
    ts = ts + rng.integers(1, 20, n) * US_PER_S
    status = pick(rng, np.array(["completed", "failed", "refunded"]), np.array([0.94, 0.045, 0.015]), n)
    return pa.table(
        {
            "transaction_id": ids(f"txn-{tag}-", n),
            "user_id": purchases.column("user_id"),
            "order_id": ids(f"ord-{tag}-", n),
            "session_id": purchases.column("session_id"),
            "amount": pa.array(np.round(rng.lognormal(3.6, 0.8, n), 2)),
            "currency": pa.array(["USD"] * n, pa.string()),
            "status": pa.array(status),
            "payment_method": pa.array(pick(rng, np.array(["card", "paypal", "apple_pay"]), np.array([0.7, 0.2, 0.1]), n)),
            "timestamp": iso(ts),
            "_t": pa.array(ts),
        }
    )


def _service_logs(
    rng: np.random.Generator, users: Users, plan: Plan, start_us: int, days: int, tag: str, span_us: int | None
) -> pa.Table:
    n = plan.service_logs
    times = np.sort(diurnal_times(rng, n, start_us, days, span_us))
    ep = rng.choice(len(ENDPOINTS), n, p=ENDPOINT_P)
    latency = rng.lognormal(np.log(ENDPOINT_LATENCY[ep]), 0.6)
    status = np.where(rng.random(n) < 0.03, 404, 200)
    status = np.where(rng.random(n) < 0.004, 500, status)
    # Error bursts: a few 20-minute windows where one in four requests fails, slowly.
    for _ in range(max(1, days // 2)):
        b0 = start_us + int(rng.integers(0, max(days, 1) * DAY_US))
        burst = (times >= b0) & (times < b0 + 20 * 60 * US_PER_S)
        fail = burst & (rng.random(n) < 0.25)
        status = np.where(fail, rng.choice([500, 502, 503], n), status)
        latency = np.where(burst, latency * 4, latency)
    has_user = rng.random(n) < 0.7
    uid = users.ids[rng.choice(len(users.ids), n, p=users.weight)]
    return pa.table(
        {
            "log_id": ids(f"log-{tag}-", n),
            "timestamp": iso(times),
            "service": pa.array(SERVICES[ep]),
            "endpoint": pa.array(ENDPOINTS[ep]),
            "method": pa.array(np.where(ep == 3, "POST", "GET")),
            "status_code": pa.array(status.astype(np.int32)),
            "latency_ms": pa.array(np.round(latency, 2)),
            "user_id": pa.array(uid, pa.string(), mask=~has_user),
            "trace_id": ids(f"tr-{tag}-", n),
            "level": pa.array(np.where(status >= 500, "ERROR", np.where(status >= 400, "WARN", "INFO"))),
        }
    )


def _cdc(rng: np.random.Generator, users: Users, tx: pa.Table, start_us: int, end_us: int, seed: int) -> pa.Table:
    """Debezium-style changes of the source `users` and `orders` tables, with a global seq."""
    n = len(users.ids)
    span = end_us - start_us
    existing = users.created_us < start_us
    # users: snapshot reads of existing rows at the start, creates for sign-ups, updates, deletes.
    op = np.where(existing, "r", "c")
    # The snapshot is read row by row over its first seconds, so every change has its own time.
    ts = np.where(existing, start_us + np.arange(n), users.created_us)
    uidx = np.arange(n)
    n_upd = n // 2
    upd_user = rng.choice(n, n_upd, p=users.weight)
    upd_ts = np.maximum(users.created_us[upd_user], start_us) + (rng.random(n_upd) * span * 0.95).astype(np.int64)
    upd_ts = np.minimum(upd_ts, end_us - 1)
    deleted = rng.random(n) < 0.02
    del_user = uidx[deleted]
    del_ts = np.full(len(del_user), end_us - int(span * 0.02))
    del_ts = np.maximum(del_ts, np.maximum(users.created_us[del_user], start_us) + 1)
    # No update after a user's delete.
    cut = np.full(n, np.iinfo(np.int64).max)
    cut[del_user] = del_ts
    ok = upd_ts < cut[upd_user]
    upd_user, upd_ts = upd_user[ok], upd_ts[ok]

    all_user = np.concatenate([uidx, upd_user, del_user])
    all_ts = np.concatenate([ts, upd_ts, del_ts])
    all_op = np.concatenate([op, np.full(len(upd_user), "u"), np.full(len(del_user), "d")])
    order = np.lexsort((np.arange(len(all_ts)), all_ts))
    all_user, all_ts, all_op = all_user[order], all_ts[order], all_op[order]
    # Each change picks a plan; `before` is the user's previous image.
    plan = np.where(all_op == "u", PLANS[rng.choice(3, len(all_op), p=[0.5, 0.4, 0.1])], users.plan[all_user])
    email_v = np.zeros(len(all_op), dtype=np.int64)
    by_user = np.lexsort((np.arange(len(all_user)), all_user))
    prev = np.full(len(all_op), -1)
    same = all_user[by_user][1:] == all_user[by_user][:-1]
    prev[by_user[1:][same]] = by_user[:-1][same]
    # Walk in time order so each image builds on the previous one.
    email_change = (all_op == "u") & (rng.random(len(all_op)) < 0.2)
    for i in np.flatnonzero((prev >= 0) & (all_op != "u") | (prev >= 0) & (all_op == "u")):
        p = prev[i]
        email_v[i] = email_v[p] + (1 if email_change[i] else 0)
        if all_op[i] == "d":
            plan[i] = plan[p]
    uid = users.ids[all_user]
    email = np.array([f"{u}{'' if v == 0 else '.' + str(v)}@example.com" for u, v in zip(uid, email_v, strict=True)], dtype=object)
    image = _user_images(uid, email, users.country[all_user], plan, users.created_us[all_user], all_ts)
    none = np.full(len(image), None, dtype=object)
    before = np.where((prev >= 0) & ~np.isin(all_op, ["c", "r"]), image[np.maximum(prev, 0)], none)
    after = np.where(all_op == "d", none, image)

    # orders: created with the transaction, then updated to its final status.
    n_tx = tx.num_rows
    tx_ts = tx.column("_t").to_numpy()
    oid = tx.column("order_id").to_numpy(zero_copy_only=False)
    ouser = tx.column("user_id").to_numpy(zero_copy_only=False)
    amount = tx.column("amount").to_numpy()
    status = tx.column("status").to_numpy(zero_copy_only=False)
    created = np.array([_order_image(o, u, a, "created") for o, u, a in zip(oid, ouser, amount, strict=True)], dtype=object)
    final = np.array([_order_image(o, u, a, s) for o, u, a, s in zip(oid, ouser, amount, status, strict=True)], dtype=object)
    o_ts = np.concatenate([tx_ts - US_PER_S, tx_ts + 2 * US_PER_S])
    o_op = np.concatenate([np.full(n_tx, "c"), np.full(n_tx, "u")])
    o_before = np.concatenate([np.full(n_tx, None, dtype=object), created])
    o_after = np.concatenate([created, final])

    table = np.concatenate([np.full(len(all_op), "users"), np.full(2 * n_tx, "orders")])
    t_all = np.concatenate([all_ts, o_ts])
    ops = np.concatenate([all_op, o_op])
    bef = np.concatenate([before, o_before])
    aft = np.concatenate([after, o_after])
    order = np.lexsort((np.arange(len(t_all)), t_all))
    # The log sequence number is unique and grows with time across runs, like a database's
    # LSN: microseconds x 1000 + the change's rank among changes in the same microsecond.
    t_sorted = t_all[order].astype(np.int64)
    first = np.searchsorted(t_sorted, t_sorted, side="left")
    seq = t_sorted * 1000 + (np.arange(len(t_sorted)) - first)
    ts_ms = t_all[order] // 1000
    src = [
        f'{{"db":"app","table":"{t}","seq":{s},"ts_ms":{m}}}'
        for t, s, m in zip(table[order], seq, ts_ms, strict=True)
    ]
    return pa.table(
        {
            "op": pa.array(ops[order]),
            "before": pa.array(bef[order], pa.string()),
            "after": pa.array(aft[order], pa.string()),
            "source": pa.array(src, pa.string()),
            "ts_ms": pa.array(ts_ms + 5),
        }
    )


def _user_images(uid: np.ndarray, email: np.ndarray, country: np.ndarray, plan: np.ndarray, created: np.ndarray, updated: np.ndarray) -> np.ndarray:
    c_iso = iso(created).to_numpy(zero_copy_only=False)
    u_iso = iso(updated).to_numpy(zero_copy_only=False)
    return np.array(
        [
            f'{{"id":"{u}","email":"{e}","name":"User {u[1:]}","country":"{c}","plan":"{p}","created_at":"{ca}","updated_at":"{ua}"}}'
            for u, e, c, p, ca, ua in zip(uid, email, country, plan, c_iso, u_iso, strict=True)
        ],
        dtype=object,
    )


def _order_image(order_id: str, user_id: str, amount: float, status: str) -> str:
    return f'{{"id":"{order_id}","user_id":"{user_id}","amount":{amount},"status":"{status}"}}'
