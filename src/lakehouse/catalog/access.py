"""API keys and roles: who may read which layer, run SQL, edit the catalog, read the audit.

Keys are random tokens shown once; only their SHA-256 is stored. Lookups are by hash and the
final comparison is constant-time. A verified key is cached for `cache_s` seconds so a busy
server does not hit the metadata store per request; a revocation is therefore seen within
that time by other processes (immediately by the one that revoked).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from enum import Enum
from typing import Final, Literal, get_args

from lakehouse.catalog.models import ApiKey
from lakehouse.catalog.store import MetadataStore
from lakehouse.exceptions import InputError, LakehouseError, PermissionDeniedError
from lakehouse.storage.names import TableId

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
    def __init__(self, store: MetadataStore, cache_s: float = 5.0) -> None:
        self.store = store
        self.cache_s = cache_s
        self._cache: dict[str, tuple[float, Principal | None]] = {}
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
        hit = self._cache.get(hash_token(token))  # a dict read is atomic; writers hold the lock
        if hit and time.monotonic() - hit[0] < self.cache_s:
            return hit[1]
        return NOT_CACHED

    def verify(self, token: str) -> Principal | None:
        """The principal for a presented token, or None when unknown or revoked."""
        digest = hash_token(token)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest)
        if hit and now - hit[0] < self.cache_s:
            return hit[1]
        row = self.store.key_by_hash(digest)
        principal = None
        if row is not None and row.revoked_at is None and hmac.compare_digest(row.key_hash, digest):
            principal = Principal(row.key_id, row.name, POLICY[row.role])
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (now, principal)
        return principal


class NotAuthenticatedError(LakehouseError):
    """No API key, or one that is unknown or revoked."""
