"""Data quality: each table's expectations, checked on every batch before it is committed."""

from lakehouse.quality.expectations import checks_for
from lakehouse.quality.quarantine import QUARANTINE
from lakehouse.quality.validate import Validator

__all__ = ["QUARANTINE", "Validator", "checks_for"]
