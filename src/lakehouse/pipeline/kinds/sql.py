"""SQL the kinds wrap around a model's own SELECT (in the models' dialect, DuckDB's)."""

from __future__ import annotations

from lakehouse.pipeline.registry import Model
from lakehouse.pipeline.sql import quote


def select_sql(model: Model) -> str:
    """The model's SELECT, with the dedup step for unique_key models.

    Duplicates are rare: find the duplicated keys with a hash aggregate, pass every other row
    straight through, and rank only the duplicated ones (earliest by `order` wins). Much
    cheaper than a window over every row, same result.
    """
    if model.kind != "unique_key":
        return model.sql
    spec = model.model
    assert spec.key is not None
    key = quote(spec.key)
    order = ", ".join(quote(c) for c in spec.order)
    return f"""WITH __m AS ({model.sql}),
        __dup AS (SELECT {key} FROM __m GROUP BY {key} HAVING count(*) > 1)
    SELECT * FROM __m ANTI JOIN __dup USING ({key})
    UNION ALL
    SELECT * FROM (SELECT * FROM __m SEMI JOIN __dup USING ({key}))
    QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {order}) = 1"""
