"""The one table registry: every table of the lake, declared once, and name resolution.

`user_segments_gold`, `gold_user_segments` and `gold.user_segments` are one table; a spec's
`aliases` add the seed's other names (`clickstream_silver` is `silver.clickstream_sessions`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator

from lakehouse.contract import bronze, gold, silver
from lakehouse.contract.spec import LAYERS, Layer, TableId, TableSpec
from lakehouse.exceptions import TableNotFoundError


class Registry:
    """Table declarations by id, in declaration order (bronze, silver, gold)."""

    def __init__(self, specs: Iterable[TableSpec]) -> None:
        self._specs: dict[TableId, TableSpec] = {}
        for s in specs:
            if s.id in self._specs:
                raise ValueError(f"{s.fqn} is declared twice")
            self._specs[s.id] = s
        self.aliases = self._aliases()

    def _aliases(self) -> dict[str, TableId]:
        out: dict[str, TableId] = {}

        def add(name: str, t: TableId) -> None:
            key = name.lower()
            if out.get(key, t) != t:
                raise ValueError(f"name '{name}' would mean both {out[key]} and {t}")
            out[key] = t

        for t in self._specs:
            add(t.fqn, t)
            add(f"{t.name}_{t.layer}", t)
            add(f"{t.layer}_{t.name}", t)
        # Explicit aliases come last and win over a generated name they reuse.
        for t, s in self._specs.items():
            for alias in s.aliases:
                out[alias.lower()] = t
        return out

    def __iter__(self) -> Iterator[TableSpec]:
        return iter(self._specs.values())

    def __contains__(self, t: object) -> bool:
        return t in self._specs

    def get(self, t: TableId) -> TableSpec:
        return self._specs[t]

    def spec(self, name: str | TableId) -> TableSpec:
        return self._specs[self.resolve(name) if isinstance(name, str) else name]

    def ids(self, layer: Layer | str | None = None) -> list[TableId]:
        return [t for t in self._specs if layer is None or t.layer == layer]

    def specs(self, layer: Layer | str | None = None) -> list[TableSpec]:
        return [s for s in self._specs.values() if layer is None or s.layer == layer]

    def models(self) -> list[TableSpec]:
        return [s for s in self._specs.values() if s.model is not None]

    def resolve(self, name: str) -> TableId:
        """Any accepted spelling of a table name, or TableNotFoundError with close matches."""
        key = name.strip().strip('"').lower()
        hit = self.aliases.get(key)
        if hit is not None:
            return hit
        fqns = [t.fqn for t in self._specs]
        close = difflib.get_close_matches(key, fqns, n=3, cutoff=0.5)
        if not close:
            close = [self.aliases[m].fqn for m in difflib.get_close_matches(key, list(self.aliases), n=3, cutoff=0.6)]
        raise TableNotFoundError(name, sorted(set(close)))


REGISTRY = Registry((*bronze.TABLES, *silver.TABLES, *gold.TABLES))

assert {t.layer for t in REGISTRY.ids()} <= set(LAYERS)


def resolve(name: str) -> TableId:
    return REGISTRY.resolve(name)


def tables_in(layer: Layer | str | None = None) -> list[TableId]:
    return REGISTRY.ids(layer)


def spec(name: str | TableId) -> TableSpec:
    return REGISTRY.spec(name)
