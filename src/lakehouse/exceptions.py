"""One exception root. Each error says what went wrong and what to do next.

`transient` tells callers (retry loops, the scheduler) whether trying again can help.
"""

from __future__ import annotations


class LakehouseError(Exception):
    """Root of every error the product raises on purpose."""

    transient = False

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(LakehouseError):
    """A setting is missing, mistyped or contradicts another."""


class TableNotFoundError(LakehouseError):
    """A table name that resolves to nothing, with the closest names."""

    def __init__(self, name: str, suggestions: list[str] | None = None) -> None:
        self.name = name
        self.suggestions = suggestions or []
        hint = (
            f"did you mean {', '.join(self.suggestions)}?"
            if self.suggestions
            else "run `lakehouse tables` to list tables"
        )
        # A name with a newline or another control character is shown escaped: the error stays one line.
        shown = f"'{name}'" if name.isprintable() else repr(name)
        super().__init__(f"unknown table {shown}", hint=hint)


class TableNotBuiltError(LakehouseError):
    """The name is valid but the Delta table does not exist yet."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"table '{name}' has not been built yet",
            hint="run `lakehouse ingest` and `lakehouse transform` first",
        )


class InputError(LakehouseError):
    """Input that cannot be used as given: a bad path, a corrupt file, a bad option."""


class QualityGateError(LakehouseError):
    """A check reached its fail threshold: the run stopped before committing the table."""

    def __init__(self, table: str, check: str, measured: str, threshold: str) -> None:
        self.table = table
        self.check = check
        super().__init__(
            f"{table}: quality check '{check}' failed ({measured}; {threshold}); nothing was committed",
            hint=f"see `lakehouse quality {table}` for the failing rows",
        )


class TransformError(LakehouseError):
    """A transform run stopped; its result (recorded like every run) says where and why."""

    def __init__(self, result: object) -> None:
        self.result = result
        table = getattr(result, "failed_table", None)
        error = getattr(result, "error", None) or "failed"
        job = getattr(result, "job", "transform")
        where = f" at {table}" if table and table not in error else ""
        super().__init__(f"{job} stopped{where}: {error}", hint="the run report is in the logs directory")


class QueryError(LakehouseError):
    """SQL that is refused or fails; `position` points into the text when known."""

    def __init__(self, message: str, *, hint: str | None = None, position: int | None = None) -> None:
        super().__init__(message, hint=hint)
        self.position = position


class QueryMemoryError(QueryError):
    """A query needed more memory than a worker may use; it was stopped."""


class QueryBusyError(LakehouseError):
    """Every query worker stayed busy for the whole wait; try again shortly."""

    transient = True


class QueryTimeoutError(QueryError):
    """A query ran past its time limit and was interrupted."""


class NotAuthenticatedError(LakehouseError):
    """No API key, or one that is unknown or revoked."""


class PermissionDeniedError(LakehouseError):
    """The caller's role may not do this."""


class StorageError(LakehouseError):
    """The table format refused an operation (a vacuum below its safety window, a corrupt log)."""


class CommitConflictError(LakehouseError):
    """Another writer committed first; re-read and try again."""

    transient = True


class BrokerUnavailableError(LakehouseError):
    """Kafka cannot be reached."""

    transient = True
