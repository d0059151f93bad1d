"""Request bodies (validated, documented in OpenAPI)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# No NUL bytes: PostgreSQL text cannot hold them.
Name = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00]*$")]
Text = Annotated[str, StringConstraints(max_length=10_000, pattern=r"^[^\x00]*$")]


class QueryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sql: Annotated[str, StringConstraints(min_length=1, max_length=100_000)] = Field(
        examples=["SELECT segment, count(*) AS users FROM gold.user_segments GROUP BY segment"]
    )
    limit: int | None = Field(default=None, ge=1, le=1_000_000, description="row cap (≤ server max)")


class CatalogPatch(BaseModel):
    """Fields to change; omitted fields stay as they are. Column descriptions are merged."""

    model_config = ConfigDict(extra="forbid")

    owner: Name | None = None
    description: Text | None = None
    tags: Annotated[list[Name], Field(max_length=50)] | None = None
    retention_days: int | None = Field(default=None, ge=0, le=100_000)
    pii_columns: Annotated[list[Name], Field(max_length=500)] | None = None
    column_descriptions: dict[Name, Text] | None = None
