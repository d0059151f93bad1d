"""Model kinds: one module per way a model's new input becomes a commit to its table."""

from lakehouse.contract import ModelKind
from lakehouse.pipeline.kinds.base import (
    Batch,
    Context,
    Gate,
    GateFactory,
    Inputs,
    Kind,
    NoChecks,
    app_id,
)
from lakehouse.pipeline.kinds.cdc_merge import CdcMerge
from lakehouse.pipeline.kinds.full import Full, rebuild
from lakehouse.pipeline.kinds.partition import Partition
from lakehouse.pipeline.kinds.sessions import Sessions
from lakehouse.pipeline.kinds.unique_key import UniqueKey

KINDS: dict[ModelKind, Kind] = {
    k.name: k for k in (UniqueKey(), Partition(), Sessions(), CdcMerge(), Full())
}

__all__ = [
    "KINDS", "Batch", "Context", "Gate", "GateFactory", "Inputs", "Kind", "NoChecks", "app_id", "rebuild",
]
