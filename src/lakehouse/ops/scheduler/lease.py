"""A lease in the metadata store: who may act, renewed by a heartbeat, taken over once it expires.

Why a lease and not a file lock: a lease in the metadata store works for schedulers on one host
(SQLite) and on many (PostgreSQL), and a crashed holder (kill -9, a lost host) loses it by
expiry without anyone's help; a file lock only covers one host and its network-filesystem
behaviour varies. The price is that a dead holder's lease is taken over after `ttl_s`, not at
once. Expiry is measured on the store's clock (`ScheduleStore.db_now`), so hosts whose clocks
disagree still agree on it; the holder measures its own renewals on its monotonic clock and
stops acting (`overdue`) well before the store would let anyone else in.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid

from sqlalchemy.exc import SQLAlchemyError

from lakehouse.ops.scheduler.state import ScheduleStore

log = logging.getLogger(__name__)

# A holder that has not renewed for this share of the lease stops acting: it leaves the rest of
# the lease (a third) as margin for clocks that run at slightly different rates.
OVERDUE_FRACTION = 2 / 3


def holder_id() -> str:
    """host:pid:random, so a restarted process on the same host is a different holder."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    def __init__(self, store: ScheduleStore, name: str, holder: str, ttl_s: float) -> None:
        self.store = store
        self.name = name
        self.holder = holder
        self.ttl_s = ttl_s
        self.token: int | None = None
        self._renewed = 0.0  # monotonic time of the last successful acquire/renew

    @property
    def held(self) -> bool:
        return self.token is not None

    @property
    def renew_every(self) -> float:
        return self.ttl_s / 3

    @property
    def overdue(self) -> bool:
        """Too long since the last renewal to be sure nobody else holds it now."""
        return self.held and time.monotonic() - self._renewed > self.ttl_s * OVERDUE_FRACTION

    @property
    def renewal_due(self) -> bool:
        return time.monotonic() - self._renewed >= self.renew_every

    def acquire(self) -> bool:
        t0 = time.monotonic()
        try:
            token = self.store.acquire(self.name, self.holder, self.ttl_s)
        except SQLAlchemyError as exc:
            log.warning("lease %s: metadata store unavailable: %s", self.name, str(exc).splitlines()[0])
            return False
        if token is not None:
            self.token, self._renewed = token, t0
        return token is not None

    def renew(self, state: str | None = None) -> bool | None:
        """True: renewed. False: lost (another holder has it). None: the store did not answer."""
        if self.token is None:
            return False
        t0 = time.monotonic()
        try:
            ok = self.store.renew(self.name, self.holder, self.token, self.ttl_s, state)
        except SQLAlchemyError as exc:
            log.warning("lease %s: could not renew: %s", self.name, str(exc).splitlines()[0])
            return None
        if ok:
            self._renewed = t0
        else:
            log.warning("lease %s was taken over by another holder", self.name)
            self.token = None
        return ok

    def release(self) -> None:
        if self.token is None:
            return
        try:
            self.store.release(self.name, self.holder, self.token)
        except SQLAlchemyError as exc:  # it expires on its own
            log.warning("lease %s: could not release: %s", self.name, str(exc).splitlines()[0])
        self.token = None

    def drop(self) -> None:
        """Forget the lease without touching the store (it is no longer ours)."""
        self.token = None
