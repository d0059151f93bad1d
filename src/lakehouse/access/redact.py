"""What a role below admin may not see in a response: hidden tables' names and the lake's paths."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from lakehouse.contract import REGISTRY

REDACTED = "<redacted>"


class Redactor:
    """What a role below admin may not see in a response: the names (every spelling) of tables
    in layers it cannot read, and the lake's absolute paths.

    `json` drops list items that name a hidden table (an upstream table, a column lineage
    edge, a run's per-table counts), dict entries keyed by one, and replaces hidden names and
    paths inside other strings (an error text, a description) by `<redacted>`.
    """

    def __init__(self, layers: Iterable[str], paths: Iterable[str]) -> None:
        readable = set(layers)
        names = sorted((alias for alias, t in REGISTRY.aliases.items() if t.layer not in readable), key=len, reverse=True)
        parts = [rf"(?<![A-Za-z0-9_]){re.escape(n)}(?![A-Za-z0-9_])" for n in names]
        parts += [re.escape(p) for p in sorted(set(paths), key=len, reverse=True) if p and p != "/"]
        self._re = re.compile("|".join(parts), re.IGNORECASE) if parts else None

    def hides(self, text: str) -> bool:
        return self._re is not None and self._re.search(text) is not None

    def text(self, text: str) -> str:
        return self._re.sub(REDACTED, text) if self._re is not None else text

    def json(self, value: Any) -> Any:
        if self._re is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.json(v) for k, v in value.items() if not (isinstance(k, str) and self.hides(k))}
        if isinstance(value, list | tuple):
            return [self.json(v) for v in value if not self._names_hidden(v)]
        return value

    def _names_hidden(self, item: Any) -> bool:
        """A list item that is, or directly holds, a hidden name: left out rather than redacted."""
        if isinstance(item, str):
            return self.hides(item)
        if isinstance(item, dict):
            return any(isinstance(v, str) and self.hides(v) for v in item.values())
        return False
