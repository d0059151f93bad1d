"""Data quality: the expectations each silver model flags rows with, counted after every run."""

from lakehouse.quality.checks import expectations_of, run_checks
from lakehouse.results import CheckResult

__all__ = ["CheckResult", "expectations_of", "run_checks"]
