"""Where `lakehouse simulate --sink` delivers: the landing zone or Kafka."""

from __future__ import annotations

from lakehouse.config import Settings
from lakehouse.exceptions import InputError
from lakehouse.simulate.sinks import FileSink, Sink


def open_sink(kind: str, settings: Settings) -> Sink:
    """The sink `lakehouse simulate --sink` names: the landing zone or Kafka."""
    if kind == "files":
        return FileSink(settings.landing)
    if kind == "kafka":
        from lakehouse.simulate.kafka_sink import KafkaSink

        return KafkaSink(settings)
    raise InputError(f"unknown sink '{kind}'", hint="use --sink files or --sink kafka")
