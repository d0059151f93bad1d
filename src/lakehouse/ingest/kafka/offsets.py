"""Is bronze's offset for a partition still an offset of what the broker holds? (data loss)

Bronze records, per topic-partition, the next offset to read and the topic id it counts in.
When the broker's partition no longer continues from there, reading on would skip messages
without a word, so each such case is named here and, by default, stops the run
(`kafka.fail_on_data_loss`, as Spark's Kafka source does):

- the topic was deleted and created again (its topic id changed): the new messages start
  at its low watermark, whatever bronze's offset says;
- bronze's offset is past the partition's end (a re-created topic or a reset broker whose
  id bronze did not record yet, a truncated log): the messages there now were never read;
- bronze's offset is below the oldest message still retained: [offset, low) was deleted
  (retention, `delete_records`) before it was ingested.

With the policy off, the partition restarts at the low watermark and the skip is recorded
in the Delta commit that moves the offset and in the run report.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from lakehouse.exceptions import LakehouseError
from lakehouse.results import OffsetSkip

RECREATED = "topic re-created"
PAST_END = "offset past the end of the partition"
RETENTION = "messages deleted before they were ingested"

_WHY = {
    RECREATED: "the topic was deleted and created again under the same name",
    PAST_END: "the topic was re-created or the broker reset or its log truncated",
    RETENTION: "retention or delete-records removed them first",
}


@dataclass(frozen=True)
class Skip:
    """One partition's offsets that bronze will not read: [from_offset, to_offset) or a restart."""

    topic: str
    partition: int
    from_offset: int  # bronze's next offset before
    to_offset: int  # where reading continues (the low watermark)
    low: int
    high: int
    reason: str  # one of RECREATED, PAST_END, RETENTION

    @property
    def where(self) -> str:
        return f"{self.topic}[{self.partition}]"

    def describe(self) -> str:
        return (
            f"{self.where}: {self.reason} (bronze's next offset {self.from_offset}, the partition's "
            f"low/high watermarks {self.low}/{self.high}: {_WHY[self.reason]})"
        )

    def to_result(self) -> OffsetSkip:
        """The record of it in run reports and in the Delta commit that moves the offset."""
        # How many offsets were passed over without being read (None: unknowable, a restart).
        count = self.to_offset - self.from_offset if self.reason == RETENTION else None
        return OffsetSkip(**asdict(self), skipped_offsets=count)


def check(
    topic: str,
    partition: int,
    marker: int | None,
    stored_id: int | None,
    current_id: int | None,
    low: int,
    high: int,
) -> Skip | None:
    """The data loss reading on from `marker` would cause, or None when it continues cleanly.

    `marker` None: bronze holds nothing of the partition yet (start at the oldest message).
    A topic id that either side does not know (a lake written before ids were recorded, a
    broker that cannot say) is not compared; the offsets still are.
    """
    if marker is None:
        return None
    if stored_id is not None and current_id is not None and stored_id != current_id:
        return Skip(topic, partition, marker, low, low, high, RECREATED)
    if marker > high:
        return Skip(topic, partition, marker, low, low, high, PAST_END)
    if marker < low:
        return Skip(topic, partition, marker, low, low, high, RETENTION)
    return None


class DataLossError(LakehouseError):
    """Reading on would silently skip messages (see the module docstring)."""

    def __init__(self, skips: list[Skip]) -> None:
        self.skips = skips
        first = skips[0].describe()
        more = f" (also {', '.join(s.where for s in skips[1:])})" if len(skips) > 1 else ""
        super().__init__(
            f"data loss on {first}{more}; bronze was not moved past it",
            hint=(
                "to restart such partitions at their oldest message and record the skip, rerun with "
                "--no-fail-on-data-loss (LAKEHOUSE_KAFKA__FAIL_ON_DATA_LOSS=false)"
            ),
        )
