"""Kafka -> bronze, exactly once, with offsets kept in the Delta log."""

from lakehouse.ingest.kafka.consumer import KafkaIngestor
from lakehouse.ingest.kafka.lag import consumer_lag

__all__ = ["KafkaIngestor", "consumer_lag"]
