"""Data quality: the expectations each silver model flags rows with, counted after every run."""

from lakehouse.quality.checks import CheckResult, expectations_of, run_checks

__all__ = ["CheckResult", "expectations_of", "run_checks"]
