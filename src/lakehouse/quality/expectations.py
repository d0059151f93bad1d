"""The checks a table gets: what its contract declares, plus what every model is owed.

Every model's batch is checked against its declared schema, every double column for NaN and
infinities, and its key columns for duplicates within the batch — except where the model kind
deduplicates on exactly that key itself (`unique_key`: its dedup is that check, and repeating it
costs a hash aggregate over every row of a full build). Across batches, keeping keys unique is
the kind's job too: anti-join, merge by key, replace by partition.
"""

from __future__ import annotations

from lakehouse.contract import TableSpec
from lakehouse.contract.expectations import Expectation, Finite, Schema, Unique


def checks_for(spec: TableSpec) -> list[Expectation]:
    declared = list(spec.expectations)
    names = {e.name for e in declared}
    automatic: list[Expectation] = [Schema()]
    automatic += [Finite(column=c.name) for c in spec.columns if c.type == "double"]
    deduplicated = spec.model is not None and spec.model.kind == "unique_key" and spec.keys == (spec.model.key,)
    if spec.keys and not deduplicated:
        automatic.append(Unique(columns=spec.keys))
    out = declared + [e for e in automatic if e.name not in names]
    return out
