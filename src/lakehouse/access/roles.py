"""Roles: who may read which layer, run SQL, edit the catalog, read the audit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from lakehouse.contract import TableId
from lakehouse.exceptions import PermissionDeniedError

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
