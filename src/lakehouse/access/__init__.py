"""Access: API keys, roles, what a role may see, and the audit trail."""

from lakehouse.access.audit import AuditLog, AuditRecord
from lakehouse.access.keys import KeyRing, NewKey
from lakehouse.access.redact import REDACTED, Redactor
from lakehouse.access.roles import ANONYMOUS_ADMIN, POLICY, ROLES, Principal, Role, RoleName
from lakehouse.access.service import AccessService

__all__ = [
    "ANONYMOUS_ADMIN", "POLICY", "REDACTED", "ROLES", "AccessService", "AuditLog", "AuditRecord", "KeyRing",
    "NewKey", "Principal", "Redactor", "Role", "RoleName",
]
