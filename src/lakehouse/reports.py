"""Run reports: every job returns a typed result and writes it as JSON to the logs directory."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass
class TableChange:
    table: str
    rows_in: int = 0
    rows_out: int = 0
    version_before: int | None = None
    version_after: int | None = None


@dataclass
class RunReport:
    """What one job did. `status` is 'success' or 'failed'."""

    job: str  # "ingest" | "transform.silver" | "transform.gold" | ...
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    ended_at: str | None = None
    duration_s: float = 0.0
    status: str = "running"
    error: str | None = None
    tables: list[TableChange] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    _t0: float = field(default_factory=time.perf_counter, repr=False)

    def table(self, name: str) -> TableChange:
        for t in self.tables:
            if t.table == name:
                return t
        change = TableChange(table=name)
        self.tables.append(change)
        return change

    def finish(self, status: str = "success", error: str | None = None) -> RunReport:
        self.status = status
        self.error = error
        self.ended_at = datetime.now(UTC).isoformat()
        self.duration_s = round(time.perf_counter() - self._t0, 3)
        return self

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("_t0", None)
        return d

    def write(self, logs_dir: Path) -> Path:
        logs_dir.mkdir(parents=True, exist_ok=True)
        stamp = self.started_at.replace(":", "").replace("-", "").split(".")[0]
        path = logs_dir / f"{self.job.replace('.', '_')}_{stamp}_{self.run_id}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, default=str))
        tmp.replace(path)
        return path
