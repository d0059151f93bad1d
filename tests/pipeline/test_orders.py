"""silver.orders: the current state of the source `orders` table from CDC, whatever order the
changes arrive in, and gold.revenue_daily's net revenue from it."""

from __future__ import annotations

import random
import tempfile
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakehouse.service import Lakehouse

from support import land, make_settings, rows

T0 = datetime(2026, 2, 1, tzinfo=UTC)
STATUSES = ["created", "completed", "failed", "refunded", "cancelled"]


def order_change(op: str, seq: int, oid: str, status: str | None = None, amount: float = 10.0) -> dict[str, Any]:
    image = {"id": oid, "user_id": f"u{oid}", "amount": amount, "status": status}
    return {
        "op": op, "before": {"id": oid} if op in ("u", "d") else None, "after": None if op == "d" else image,
        "source": {"db": "app", "table": "orders", "seq": seq}, "ts_ms": int(T0.timestamp() * 1000) + seq,
    }


@st.composite
def histories(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Change logs of a few orders: a create, updates, maybe a delete and a re-create; unique seqs."""
    changes: list[dict[str, Any]] = []
    seq = 0
    for o in range(draw(st.integers(1, 6))):
        oid = f"o{o}"
        for op in ["c", *draw(st.lists(st.sampled_from(["u", "u", "d", "c"]), max_size=5))]:
            seq += draw(st.integers(1, 3))
            status = draw(st.sampled_from(STATUSES))
            changes.append(order_change(op, seq, oid, status, float(draw(st.integers(1, 500)))))
    return changes


def fold(changes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The independent answer: per order, its change with the highest sequence number."""
    latest: dict[str, dict[str, Any]] = {}
    for c in changes:
        oid = (c["after"] or c["before"])["id"]
        if oid not in latest or c["source"]["seq"] > latest[oid]["source"]["seq"]:
            latest[oid] = c
    return {
        oid: {"status": None if c["op"] == "d" else c["after"]["status"], "is_deleted": c["op"] == "d",
              "seq": c["source"]["seq"], "op": c["op"]}
        for oid, c in latest.items()
    }


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(changes=histories(), batches=st.integers(1, 3), shuffle_seed=st.integers(0, 10_000))
def test_orders_state_is_the_latest_change_whatever_the_arrival_order(
    changes: list[dict[str, Any]], batches: int, shuffle_seed: int
) -> None:
    delivered = list(changes)
    random.Random(shuffle_seed).shuffle(delivered)
    with tempfile.TemporaryDirectory() as tmp:
        lh = Lakehouse(make_settings(Path(tmp) / "lake"))
        size = -(-len(delivered) // batches)
        for i in range(0, len(delivered), size):
            land(lh.settings, "cdc_changes", f"{i:04d}.ndjson", delivered[i : i + size])
            lh.ingest()
            lh.transform(layer="silver")
        got = {r["order_id"]: r for r in rows(lh, "silver.orders")}
        want = fold(changes)
        assert set(got) == set(want)
        for oid, w in want.items():
            assert (got[oid]["status"], got[oid]["is_deleted"], got[oid]["seq"], got[oid]["op"]) == (
                w["status"], w["is_deleted"], w["seq"], w["op"]
            ), oid
        incremental = sorted(rows(lh, "silver.orders"), key=lambda r: r["order_id"])
        lh.transform(layer="silver", full_refresh=True)
        assert sorted(rows(lh, "silver.orders"), key=lambda r: r["order_id"]) == incremental


def test_net_revenue_leaves_out_orders_reversed_since(lh: Lakehouse) -> None:
    rnd = random.Random(3)
    txs, changes = [], []
    seq = 0
    for i in range(60):
        ts = T0 + timedelta(hours=rnd.randrange(0, 72))
        status = rnd.choice(["completed", "completed", "failed", "refunded"])
        amount = round(rnd.uniform(1, 300), 2)
        txs.append({"transaction_id": f"t{i}", "user_id": f"u{i % 7}", "order_id": f"o{i}", "amount": amount,
                    "status": status, "timestamp": ts.isoformat().replace("+00:00", "Z")})
        seq += 1
        changes.append(order_change("c", seq, f"o{i}", "created", amount))
        seq += 1
        later = rnd.choice([status, status, "refunded", "cancelled", "delete"])
        changes.append(order_change("d", seq, f"o{i}") if later == "delete" else order_change("u", seq, f"o{i}", later, amount))
    land(lh.settings, "transactions", "t.ndjson", txs)
    land(lh.settings, "cdc_changes", "c.ndjson", changes)
    lh.ingest()
    lh.transform()
    state = fold(changes)
    want: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for t in txs:
        day = t["timestamp"][:10]
        if t["status"] == "completed":
            want[day][0] += t["amount"]
            o = state[t["order_id"]]
            if not (o["is_deleted"] or o["status"] in ("refunded", "cancelled")):
                want[day][1] += t["amount"]
    got = {str(r["revenue_date"]): (r["revenue"], r["net_revenue"]) for r in rows(lh, "gold.revenue_daily")}
    assert set(got) == {t["timestamp"][:10] for t in txs}
    for day, (revenue, net) in want.items():
        assert got[day] == (round(revenue, 2), round(net, 2)), day
    assert any(net < revenue for revenue, net in got.values()), "the data has reversed orders"
