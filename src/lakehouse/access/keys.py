"""API keys: random tokens shown once; only their SHA-256 is stored.

Lookups are by hash and the final comparison is constant-time. A verified key is cached for
`cache_s` seconds so a busy server does not hit the metadata store per request; a revocation is
therefore seen within that time by other processes (immediately by the one that revoked).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from enum import Enum
from typing import Final, Literal

from cachetools import TTLCache

from lakehouse.access.roles import POLICY, ROLES, Principal
from lakehouse.exceptions import InputError
from lakehouse.metadata.models import ApiKey
from lakehouse.metadata.store import MetadataStore


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
