"""SIGTERM (or SIGINT) at any moment of `ingest --source kafka` ends it with a report and exit 0.

Moments: as the run starts (before the broker is asked anything), while joining the group,
while consuming with a batch in hand, and while waiting for an unreachable broker (--follow
keeps retrying it; catch-up waits 10 s before its error). The report is printed (--json) and
written to the logs directory, and what was read before the signal is in bronze exactly once.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lakehouse.config import Settings
from lakehouse.storage.delta import DeltaStore

pytestmark = pytest.mark.kafka

CLI = [sys.executable, "-m", "lakehouse.cli.main", "--debug"]
STARTED = "ingest from Kafka at"  # the run's first log line: its signal handler is installed
UNREACHABLE = "127.0.0.1:1"

Start = Callable[..., tuple["subprocess.Popen[str]", Path]]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    procs: list[subprocess.Popen[str]] = []

    def run(env: dict[str, str], *extra: str) -> tuple[subprocess.Popen[str], Path]:
        log = tmp_path / f"ingest-{len(procs)}.log"
        with log.open("w") as err:
            proc = subprocess.Popen(
                [*CLI, "ingest", "--source", "kafka", "--json", *extra],
                env=env,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
        procs.append(proc)
        return proc, log

    yield run
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def _wait_for(proc: subprocess.Popen[str], log: Path, text: str, timeout: float = 60) -> float:
    """Until `text` is in the process's log; returns when it appeared (monotonic)."""
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        assert proc.poll() is None, f"exited {proc.returncode} before {text!r}: {log.read_text()}"
        assert time.monotonic() < deadline, f"no {text!r} in {timeout:.0f} s: {log.read_text()}"
        time.sleep(0.02)
    return time.monotonic()


def _stop(proc: subprocess.Popen[str], log: Path, sig: int = signal.SIGTERM) -> dict[str, Any]:
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, f"exit {proc.returncode}: {log.read_text()[-3000:]}"
    report: dict[str, Any] = json.loads(out)
    assert report["status"] == "success", report
    d = report["details"]
    assert d["stopped_by_signal"] is True and d["signal"] == signal.Signals(sig).name
    assert d["balanced"] is True
    return report


def _written(settings: Settings, report: dict[str, Any]) -> None:
    (path,) = settings.logs_path.glob(f"ingest_*_{report['run_id']}.json")
    assert json.loads(path.read_text())["details"] == report["details"]


def _bronze_rows(settings: Settings, source: str) -> int:
    store = DeltaStore(settings)
    table = f"bronze.{source}"
    return store.dataset(table).count_rows() if store.exists(table) else 0


def _catches_sigterm(pid: int) -> bool:
    """Whether the process has a handler for SIGTERM (Linux: SigCgt in /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    return False


@pytest.mark.parametrize("after", [0.0, 0.1, 0.3, 0.7])
def test_sigterm_while_the_command_is_still_importing_gives_a_report_and_exit_0(
    kit: Any, start: Start, after: float
) -> None:
    # The first thing `lakehouse` does is hold SIGINT/SIGTERM (cli/startup.py): from then on,
    # a second or more before the run itself starts, a signal is not fatal.
    settings: Settings = kit.settings
    kit.create("clickstream", 1)
    kit.send("clickstream", [b"{}"] * 10, 0)
    proc, log = start(kit.env(), "--follow", "--only", "clickstream")
    kit.wait_until(lambda: _catches_sigterm(proc.pid), 30, "the command holds signals")
    assert STARTED not in log.read_text()  # still importing
    time.sleep(after)
    report = _stop(proc, log)
    _written(settings, report)
    assert report["details"]["received"] == _bronze_rows(settings, "quarantine")


@pytest.mark.parametrize("after", [0.0, 0.15, 0.4, 1.0])
def test_sigterm_while_starting_or_joining_the_group_gives_a_report_and_exit_0(
    kit: Any, start: Start, after: float
) -> None:
    settings: Settings = kit.settings
    kit.create("app_events", 3)
    for p in range(3):
        kit.send("app_events", [kit.event(f"p{p}", i) for i in range(50)], p)
    proc, log = start(kit.env(), "--follow", "--only", "app_events")
    at = _wait_for(proc, log, STARTED)
    time.sleep(max(0.0, at + after - time.monotonic()))
    report = _stop(proc, log)
    _written(settings, report)
    d = report["details"]
    # Whatever it read before the signal is in bronze, once; the rest is there for the next run.
    assert _bronze_rows(settings, "app_events") == d["sources"]["app_events"]["bronze"]
    rest = subprocess.run(
        [*CLI, "ingest", "--source", "kafka", "--json", "--only", "app_events"],
        env=kit.env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert rest.returncode == 0, rest.stderr[-3000:]
    assert d["received"] + json.loads(rest.stdout)["details"]["received"] == 150
    kit.produced.bronze["app_events"] = 150
    kit.assert_exactly_once(("app_events",))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_consuming_commits_the_batch_in_hand(
    kit: Any, start: Start, sig: int
) -> None:
    settings: Settings = kit.settings
    kit.create("transactions", 2)
    # Batches close only after a minute: what was read is still in hand at the signal.
    env = kit.env(batch_max_messages=1_000_000, batch_max_seconds=60)
    proc, log = start(env, "--follow", "--only", "transactions")
    _wait_for(proc, log, "assigned")
    kit.send("transactions", [b'{"not": "a transaction"}'] * 40, 0)
    kit.send("transactions", [b"[]"] * 2, 1)
    _wait_for(proc, log, "a new batch from")
    assert _bronze_rows(settings, "quarantine") == 0
    report = _stop(proc, log, sig)
    _written(settings, report)
    held = report["details"]["received"]
    assert held > 0 and report["details"]["quarantined"] == held
    assert _bronze_rows(settings, "quarantine") == held
    rest = subprocess.run(
        [*CLI, "ingest", "--source", "kafka", "--json", "--only", "transactions"],
        env=kit.env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert held + json.loads(rest.stdout)["details"]["received"] == 42
    kit.produced.quarantine["transactions"] = 42
    kit.assert_exactly_once(("transactions",))


@pytest.mark.parametrize(
    ("follow", "moment"),
    [
        (True, STARTED),  # before the first attempt ends
        (True, "retries in 1 s"),  # waiting between attempts
        (True, "retries in 2 s"),  # the second wait: backing off
        (False, STARTED),  # catch-up: during its 10 s wait for the broker
    ],
)
def test_a_signal_while_the_broker_is_unreachable_gives_a_report_and_exit_0(
    kit: Any, start: Start, follow: bool, moment: str
) -> None:
    settings: Settings = kit.settings
    env = kit.env(bootstrap=UNREACHABLE)
    proc, log = start(env, *(["--follow"] if follow else []))
    _wait_for(proc, log, moment, timeout=90)
    t0 = time.monotonic()
    report = _stop(proc, log)
    assert time.monotonic() - t0 < 10, "the stop was not noticed promptly"
    _written(settings, report)
    d = report["details"]
    assert d["bootstrap"] == UNREACHABLE and d["received"] == 0
    assert d["broker_retries"] == {STARTED: 0, "retries in 1 s": 1, "retries in 2 s": 2}[moment]
    assert "Traceback" not in log.read_text()


def test_catch_up_with_an_unreachable_broker_is_still_an_error(kit: Any) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lakehouse.cli.main", "ingest", "--source", "kafka"],
        env=kit.env(bootstrap=UNREACHABLE), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    err = " ".join(done.stderr.split())
    assert f"error: Kafka at {UNREACHABLE} is unreachable" in err and "Traceback" not in err
