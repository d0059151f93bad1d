"""Kafka consumer lag for the health report, never holding the report up.

The lag is read by `lakehouse.ingest.kafka.consumer_lag` (watermarks against the offsets in the
bronze Delta log) on a thread of its own, waited for at most `monitoring.kafka_timeout_s`. A
broker that does not answer makes the Kafka section `unavailable`; while that probe is still
waiting (the client's own timeout is longer), later reports do not start another one.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

from lakehouse.config import Settings

LagReader = Callable[[Settings], dict[str, dict[int, int]]]


def kafka_app_id(topic: str, partition: int) -> str:
    # The id `ingest/kafka/client.app_id` writes (not imported: the Kafka client is an optional extra).
    return f"kafka:{topic}:{partition}"


def _default_reader(settings: Settings) -> dict[str, dict[int, int]]:
    from lakehouse.ingest.kafka import consumer_lag

    return consumer_lag(settings)


def reachable(bootstrap: str, timeout_s: float) -> str | None:
    """None when one bootstrap server accepts a TCP connection, else why not.

    Asked first so an absent broker costs a refused connection, not a Kafka client that keeps
    retrying for its own (longer) timeout and holds the process up at exit.
    """
    why = "no bootstrap servers"
    for server in (s.strip() for s in bootstrap.split(",") if s.strip()):
        host, _, port = server.rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or server, int(port or 9092)), timeout=timeout_s):
                return None
        except (OSError, ValueError) as exc:
            why = f"{server}: {exc}"
    return why


@dataclass(frozen=True)
class Probe:
    ok: bool
    lag: dict[str, dict[int, int]]
    detail: str | None = None


class KafkaProbe:
    def __init__(self, settings: Settings, reader: LagReader | None = None) -> None:
        self.settings = settings
        self.reader = reader or _default_reader
        self._running: threading.Thread | None = None
        self._lock = threading.Lock()

    def measure(self) -> Probe:
        timeout = self.settings.monitoring.kafka_timeout_s
        bootstrap = self.settings.kafka.bootstrap
        if self.reader is _default_reader and (why := reachable(bootstrap, timeout)) is not None:
            return Probe(False, {}, f"broker unreachable: {why}")
        with self._lock:
            if self._running is not None and self._running.is_alive():
                return Probe(False, {}, f"{bootstrap}: an earlier lag probe is still waiting for the broker")
            box: dict[str, object] = {}

            def work() -> None:
                try:
                    box["lag"] = self.reader(self.settings)
                except Exception as exc:  # any failure is "unavailable", reported, never raised
                    box["error"] = exc

            thread = threading.Thread(target=work, name="lakehouse-kafka-lag", daemon=True)
            self._running = thread
            thread.start()
        thread.join(timeout)
        if thread.is_alive():
            return Probe(False, {}, f"{bootstrap}: no answer within {timeout:g} s")
        if "error" in box:
            text = str(box["error"]).splitlines()[0] if str(box["error"]) else type(box["error"]).__name__
            return Probe(False, {}, f"{bootstrap}: {text[:300]}")
        lag = box.get("lag")
        return Probe(True, lag if isinstance(lag, dict) else {})
