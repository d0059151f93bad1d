"""Read-only SQL over the lake: validation (`safety`) and execution (`engine`)."""

from lakehouse.query.engine import QueryEngine, QueryResult
from lakehouse.query.safety import ParsedQuery, validate, validate_filter

__all__ = ["ParsedQuery", "QueryEngine", "QueryResult", "validate", "validate_filter"]
