"""Catalog and governance: metadata store, access control, audit, lineage, OpenLineage."""

from lakehouse.catalog.access import ANONYMOUS_ADMIN, POLICY, KeyRing, Principal
from lakehouse.catalog.service import Governance
from lakehouse.catalog.store import AuditFilter, MetadataStore

__all__ = ["ANONYMOUS_ADMIN", "POLICY", "AuditFilter", "Governance", "KeyRing", "MetadataStore", "Principal"]
