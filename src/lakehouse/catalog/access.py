"""API keys and roles: who may read which layer, run SQL, edit the catalog, read the audit.

Keys are random tokens shown once; only their SHA-256 is stored. Lookups are by hash and the
final comparison is constant-time. A verified key is cached for `cache_s` seconds so a busy
server does not hit the metadata store per request; a revocation is therefore seen within
that time by other processes (immediately by the one that revoked).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final, Literal, get_args

from cachetools import TTLCache

from lakehouse.catalog.models import ApiKey
from lakehouse.catalog.store import MetadataStore
from lakehouse.contract import REGISTRY, TableId
from lakehouse.exceptions import InputError, LakehouseError, PermissionDeniedError

RoleName = Literal["reader", "analyst", "admin"]
ROLES: tuple[str, ...] = get_args(RoleName)


@dataclass(frozen=True)
class Role:
    name: str
    layers: frozenset[str]
    can_query: bool
    masks_pii: bool
    is_admin: bool


POLICY: dict[str, Role] = {
    "reader": Role("reader", frozenset({"gold"}), can_query=False, masks_pii=True, is_admin=False),
    "analyst": Role("analyst", frozenset({"silver", "gold"}), can_query=True, masks_pii=False, is_admin=False),
    "admin": Role("admin", frozenset({"bronze", "silver", "gold"}), can_query=True, masks_pii=False, is_admin=True),
}


@dataclass(frozen=True)
class Principal:
    """The caller: a key's id and name with its role; `anonymous` when auth is off."""

    key_id: str
    name: str
    role: Role

    def check_read(self, table: TableId) -> None:
        if table.layer not in self.role.layers:
            raise PermissionDeniedError(
                f"role '{self.role.name}' may not read {table.layer} tables ({table.fqn})",
                hint=f"readable layers: {', '.join(sorted(self.role.layers))}",
            )

    def check_query(self) -> None:
        if not self.role.can_query:
            raise PermissionDeniedError(
                f"role '{self.role.name}' may not run SQL", hint="ask for an analyst key"
            )

    def check_admin(self) -> None:
        if not self.role.is_admin:
            raise PermissionDeniedError(f"role '{self.role.name}' may not do this", hint="admin only")


ANONYMOUS_ADMIN = Principal("anonymous", "anonymous", POLICY["admin"])

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


@dataclass(frozen=True)
class NewKey:
    key_id: str
    name: str
    role: str
    token: str  # shown once, never stored


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class _Miss(Enum):
    NOT_CACHED = 0


NOT_CACHED: Final = _Miss.NOT_CACHED


class KeyRing:
    def __init__(self, store: MetadataStore, cache_s: float = 5.0, max_entries: int = 20_000) -> None:
        self.store = store
        self.cache_s = cache_s
        # Bounded LRU with expiry (an entry is a 64-byte digest and a shared Principal, ~300 B:
        # 20k entries are ~6 MB). Unknown tokens are cached too, so a flood of bad keys costs one
        # store lookup each and cannot push out the valid keys in use (they are recently used).
        self._cache: TTLCache[str, Principal | None] = TTLCache(maxsize=max_entries, ttl=max(cache_s, 1e-6))
        self._lock = threading.Lock()

    def create(self, role: str, name: str | None = None) -> NewKey:
        if role not in POLICY:
            raise InputError(f"unknown role '{role}'", hint=f"one of {', '.join(ROLES)}")
        key_id = secrets.token_hex(6)
        token = f"lh_{key_id}_{secrets.token_urlsafe(32)}"
        self.store.add_key(ApiKey(key_id=key_id, name=name or f"{role}-{key_id}", role=role, key_hash=hash_token(token)))
        return NewKey(key_id, name or f"{role}-{key_id}", role, token)

    def revoke(self, key_id: str) -> bool:
        done = self.store.revoke_key(key_id)
        with self._lock:
            self._cache.clear()
        return done

    def cached(self, token: str) -> Principal | Literal[_Miss.NOT_CACHED] | None:
        """`verify` answered from the cache without touching the store, or NOT_CACHED."""
        if self.cache_s <= 0:
            return NOT_CACHED
        digest = hash_token(token)
        with self._lock:
            return self._cache.get(digest, NOT_CACHED)

    def verify(self, token: str) -> Principal | None:
        """The principal for a presented token, or None when unknown or revoked."""
        digest = hash_token(token)
        if self.cache_s > 0:
            with self._lock:
                hit = self._cache.get(digest, NOT_CACHED)
            if hit is not NOT_CACHED:
                return hit
        row = self.store.key_by_hash(digest)
        principal = None
        if row is not None and row.revoked_at is None and hmac.compare_digest(row.key_hash, digest):
            principal = Principal(row.key_id, row.name, POLICY[row.role])
        if self.cache_s > 0:
            with self._lock:
                self._cache[digest] = principal
        return principal


class NotAuthenticatedError(LakehouseError):
    """No API key, or one that is unknown or revoked."""
