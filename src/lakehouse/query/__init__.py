"""Read-only SQL over the lake: validation (`safety`) and execution (`engine`)."""

from lakehouse.query.engine import QueryEngine
from lakehouse.query.safety import ParsedQuery, validate, validate_filter
from lakehouse.results import QueryResult

__all__ = ["ParsedQuery", "QueryEngine", "QueryResult", "validate", "validate_filter"]
