"""Which of the requested topics exist: a missing topic is said, never silently read as empty.

A mistyped prefix used to give "0 partitions, 0 received, balanced" (and, with `--follow`,
five new topics). Now: when none of the requested topics exists the run is an error naming
them and the closest existing topics; when some are missing, a warning and the report say
which. Topics are created only when asked (`--create-topics`, `kafka.create_topics`).
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from lakehouse.config import Settings
from lakehouse.exceptions import ConfigError
from lakehouse.ingest.kafka.client import ClusterMetadata, topic_partitions

log = logging.getLogger(__name__)

MAX_SUGGESTIONS = 5


@dataclass
class Topics:
    """The requested topics (topic -> source) split by whether the broker has them."""

    wanted: dict[str, str]
    parts: dict[str, list[int]] = field(default_factory=dict)  # existing topic -> partitions
    missing: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    known: bool = False  # the broker was asked (a run stopped before that knows nothing)

    def exists(self, topic: str) -> bool | None:
        return topic in self.parts if self.known else None


def resolve(md: ClusterMetadata, wanted: dict[str, str]) -> Topics:
    parts = topic_partitions(md, wanted)
    return Topics(wanted, parts, [t for t in wanted if t not in parts], known=True)


def similar(missing: Iterable[str], existing: Iterable[str]) -> list[str]:
    """Existing topics whose names are close to the missing ones, closest first (internal
    topics left out; compared without case, as a prefix typed in the wrong case is common)."""
    names: dict[str, str] = {}
    for t in sorted(existing):
        if not t.startswith("__"):
            names.setdefault(t.lower(), t)
    scored: dict[str, float] = {}
    for t in missing:
        for match in difflib.get_close_matches(t.lower(), names, n=MAX_SUGGESTIONS, cutoff=0.6):
            score = difflib.SequenceMatcher(None, t.lower(), match).ratio()
            scored[names[match]] = max(score, scored.get(names[match], 0.0))
    return sorted(scored, key=lambda n: (-scored[n], n))[:MAX_SUGGESTIONS]


def require_some(topics: Topics, md: ClusterMetadata, settings: Settings) -> None:
    """None of the requested topics exists: an error. Some missing: a warning."""
    if topics.parts:
        if topics.missing:
            log.warning(
                "no topic %s on %s: nothing to ingest for %s",
                ", ".join(topics.missing),
                settings.kafka.bootstrap,
                ", ".join(topics.wanted[t] for t in topics.missing),
            )
        return
    close = similar(topics.missing, md.topics)
    hint = f"similar topics: {', '.join(close)}; " if close else ""
    raise ConfigError(
        f"none of the topics {', '.join(topics.missing)} exists on {settings.kafka.bootstrap}",
        hint=(
            f"{hint}check LAKEHOUSE_KAFKA__TOPIC_PREFIX (now {settings.kafka.topic_prefix!r}), "
            "produce first (lakehouse simulate --sink kafka) or pass --create-topics"
        ),
    )
