"""CDC is applied in change-sequence order, whatever order it arrives in; deletes stick."""

from __future__ import annotations

from lakehouse.service import Lakehouse

from support import land, rows


def change(op: str, seq: int, uid: str, plan: str | None = None, email: str | None = None) -> dict[str, object]:
    after = None if op == "d" else {"id": uid, "email": email or f"{uid}@x.io", "plan": plan or "free", "country": "DE"}
    before = {"id": uid} if op in ("u", "d") else None
    return {"op": op, "before": before, "after": after, "source": {"table": "users", "seq": seq}, "ts_ms": 1772000000000 + seq}


def users(lh: Lakehouse) -> dict[str, dict[str, object]]:
    return {r["user_id"]: r for r in rows(lh, "silver.users")}


def test_updates_and_deletes_out_of_order_across_batches(lh: Lakehouse) -> None:
    land(lh.settings, "cdc_changes", "1.ndjson", [
        change("c", 1, "a"), change("u", 5, "a", plan="enterprise"), change("u", 3, "a", plan="pro"),  # 5 wins
        change("c", 2, "b"), change("d", 9, "b"),
        change("c", 4, "c", email="old@x.io"),
    ])
    lh.ingest()
    lh.transform(layer="silver")
    u = users(lh)
    assert set(u) == {"a", "c"}
    assert u["a"]["plan"] == "enterprise"
    # Later batch: an older update of a (ignored), a stale update of deleted b (must not
    # resurrect it), a newer update of c, a delete of a that arrives before its own re-create.
    land(lh.settings, "cdc_changes", "2.ndjson", [
        change("u", 4, "a", plan="free"),
        change("u", 8, "b", plan="pro"),
        change("u", 7, "c", email="new@x.io"),
        change("c", 12, "a", plan="pro"), change("d", 11, "a"),
    ])
    lh.ingest()
    lh.transform(layer="silver")
    u = users(lh)
    assert set(u) == {"a", "c"}
    assert u["a"]["plan"] == "pro"  # re-created at seq 12 after the delete at 11
    assert u["c"]["email"] == "new@x.io"
    incremental = sorted(rows(lh, "silver.users_cdc_state"), key=lambda r: r["user_id"])
    lh.transform(layer="silver", full_refresh=True)
    assert sorted(rows(lh, "silver.users_cdc_state"), key=lambda r: r["user_id"]) == incremental


def test_orders_changes_do_not_leak_into_users(lh: Lakehouse) -> None:
    order = {"op": "c", "after": {"id": "o1", "user_id": "a"}, "source": {"table": "orders", "seq": 1}, "ts_ms": 1}
    land(lh.settings, "cdc_changes", "1.ndjson", [order, change("c", 2, "a")])
    lh.ingest()
    lh.transform(layer="silver")
    assert set(users(lh)) == {"a"}
