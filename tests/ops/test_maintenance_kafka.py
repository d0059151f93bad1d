"""OPTIMIZE while a Kafka ingest commits to the same bronze tables: every message lands once."""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

from lakehouse.ingest.kafka import KafkaIngestor
from lakehouse.service import Lakehouse
from lakehouse.storage.delta import DeltaStore

from support import make_settings

pytestmark = pytest.mark.kafka

START = datetime(2026, 3, 2, tzinfo=UTC)


def _kafka_kit() -> ModuleType:
    """The Kafka tests' helpers (tests/kafka/conftest.py), loaded as a plain module."""
    path = Path(__file__).resolve().parents[1] / "kafka" / "conftest.py"
    spec = importlib.util.spec_from_file_location("kafka_kit_for_ops", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def kit(tmp_path: Path) -> Iterator[Any]:
    k = _kafka_kit()
    try:
        AdminClient({"bootstrap.servers": k.BOOTSTRAP}).list_topics(timeout=5)
    except Exception as exc:
        if os.environ.get("LAKEHOUSE_REQUIRE_KAFKA") == "1":
            pytest.fail(f"no Kafka broker at {k.BOOTSTRAP} ({exc}); LAKEHOUSE_REQUIRE_KAFKA=1", pytrace=False)
        pytest.skip(f"no Kafka broker at {k.BOOTSTRAP} ({exc})")
    tag = uuid.uuid4().hex[:10]
    settings = make_settings(tmp_path / "lake", kafka={
        "bootstrap": k.BOOTSTRAP, "topic_prefix": f"test-{tag}.", "group_id": f"test-{tag}",
        "batch_max_messages": 2_000, "batch_max_seconds": 0.5,
    })
    yield k.Kit(settings)
    k.delete_topics(settings)


def test_optimize_while_kafka_ingests_loses_and_duplicates_nothing(kit: Any) -> None:
    settings = kit.settings
    errors: list[BaseException] = []
    done = threading.Event()

    def stream() -> None:
        try:
            for seed in range(4):  # four deliveries, each caught up in many small commits
                kit.produce(events=8_000, days=3, start=START, seed=seed)
                KafkaIngestor(settings, DeltaStore(settings)).run()
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    lh = Lakehouse(settings)
    thread = threading.Thread(target=stream)
    thread.start()
    rounds = 0
    deadline = time.monotonic() + 400
    while not done.is_set() and time.monotonic() < deadline:
        if lh.store.exists("bronze.app_events"):
            for table in ("bronze.app_events", "bronze.clickstream", "bronze.quarantine"):
                lh.optimize(table, include_open=True)
            rounds += 1
        else:
            done.wait(0.2)
    thread.join()
    assert not errors, errors
    assert rounds >= 2, "the Kafka ingest finished before optimize ran twice alongside it"
    KafkaIngestor(settings, DeltaStore(settings)).run()
    lh.optimize("bronze.app_events", include_open=True)
    kit.assert_exactly_once()
    assert len({f.partition.get("event_date") for f in lh.store.snapshot("bronze.app_events").files}) == \
        len(lh.store.snapshot("bronze.app_events").files)  # one file per day left
