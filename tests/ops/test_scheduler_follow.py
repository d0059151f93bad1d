"""With `ingest_follow`, the scheduler keeps one continuous Kafka consumer running (real broker)."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakehouse.config import Settings
from lakehouse.ops.scheduler import Control
from lakehouse.service import Lakehouse

from support import make_settings

BOOTSTRAP = os.environ.get("LAKEHOUSE_KAFKA__BOOTSTRAP", "127.0.0.1:9092")
pytestmark = pytest.mark.kafka


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    try:
        admin.list_topics(timeout=5)
    except Exception as exc:
        if os.environ.get("LAKEHOUSE_REQUIRE_KAFKA") == "1":
            pytest.fail(f"no Kafka broker at {BOOTSTRAP}: {exc}")
        pytest.skip(f"no Kafka broker at {BOOTSTRAP} (bash scripts/kafka.sh start)")
    tag = uuid.uuid4().hex[:10]
    s = make_settings(
        tmp_path / "lake",
        kafka={"bootstrap": BOOTSTRAP, "topic_prefix": f"test-{tag}.", "group_id": f"test-{tag}",
               "batch_max_seconds": 0.5},
        schedule={"ingest_source": "kafka", "ingest_follow": True, "lease_s": 6,
                  **{j: {"enabled": False} for j in ("silver", "gold", "retention", "optimize")}},
    )
    yield s
    topics = [t for t in admin.list_topics(timeout=5).topics if t.startswith(s.kafka.topic_prefix)]
    if topics:
        for f in admin.delete_topics(topics).values():
            f.result(30)


def test_the_scheduler_keeps_a_continuous_consumer_and_stops_it_cleanly(settings: Settings) -> None:
    lh = Lakehouse(settings)
    sim = lh.simulate(events=3_000, days=1, sink="kafka", seed=5)
    expected = {name: s.expected_bronze for name, s in sim.sources.items()}
    sched = lh.scheduler()
    control = sched.control
    assert isinstance(control, Control)
    codes: list[int] = []
    t = threading.Thread(target=lambda: codes.append(sched.serve()))
    t.start()
    try:
        deadline = time.monotonic() + 120
        while True:
            have = {n: lh.store.info(f"bronze.{n}").rows if lh.store.exists(f"bronze.{n}") else 0 for n in expected}
            if have == expected:
                break
            assert time.monotonic() < deadline, f"bronze never caught up: {have} != {expected}"
            time.sleep(0.2)
        status = {j["job"]: j for j in lh.schedule()["jobs"]}
        assert status["ingest"]["cron"] == "continuous" and status["ingest"]["status"] == "running"
    finally:
        control.request_stop()
        t.join(60)
    assert codes == [0]
    run = lh.schedule_store.latest_run("ingest")
    assert run is not None and run.trigger == "follow" and run.status == "success" and run.run_ids
    assert lh.schedule_store.lease("job:ingest").holder is None  # type: ignore[union-attr]
