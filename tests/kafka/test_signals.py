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

from support import by_source

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


def _stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[int, dict[str, Any]]:
    """Send `sig` and wait for the exit: its code, and the report it printed ({} if none)."""
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    try:
        report = json.loads(out)
    except ValueError:
        report = {}
    return proc.returncode, report if isinstance(report, dict) else {}


# How a signalled run ends: exit 0, a successful, balanced report that says which signal, the
# same report in the logs directory as on stdout (--json).
STOPPED = {"exit": 0, "status": "success", "stopped_by_signal": True, "balanced": True, "written": [True]}


def _ending(settings: Settings, code: int, report: dict[str, Any]) -> dict[str, Any]:
    """How the run ended, to compare with STOPPED (+ its signal)."""
    logs = settings.logs_path.glob(f"ingest_*_{report.get('run_id')}.json")
    return {
        "exit": code, **{k: report.get(k) for k in ("status", "stopped_by_signal", "signal", "balanced")},
        "written": [json.loads(p.read_text()) == report for p in logs],
    }


def _tail(log: Path) -> str:
    return log.read_text()[-3000:]


def _bronze_rows(settings: Settings, source: str) -> int:
    store = DeltaStore(settings)
    table = f"bronze.{source}"
    return store.dataset(table).count_rows() if store.exists(table) else 0


# After a stopped run, what it read is in bronze once, and a catch-up run succeeds (reading
# exactly the rest: the two runs together received every message).
CAUGHT_UP = {"bronze_is_what_it_read": True, "catch_up_exit": 0}


def _catch_up_after(kit: Any, report: dict[str, Any], source: str) -> dict[str, Any]:
    """After a stopped run: is what it read in bronze (once), and what a catch-up run then reads."""
    settings: Settings = kit.settings
    found: dict[str, Any] = {
        "bronze_is_what_it_read": _bronze_rows(settings, source) == by_source(report)[source]["bronze"]
    }
    rest = subprocess.run(
        [*CLI, "ingest", "--source", "kafka", "--json", "--only", source],
        env=kit.env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    found["catch_up_exit"] = rest.returncode
    if rest.returncode != 0:
        found["catch_up_stderr"] = rest.stderr[-3000:]
        return found
    found["received_by_both"] = report["received"] + json.loads(rest.stdout)["received"]
    return found


def _fill(kit: Any, source: str, partitions: int, each: int) -> int:
    """Valid app_events records (`kit.event`), `each` per partition."""
    kit.create(source, partitions)
    for p in range(partitions):
        kit.send(source, [kit.event(f"p{p}", i) for i in range(each)], p)
    return partitions * each


@pytest.mark.parametrize("after", [0.3, 0.7, 1.2, 1.8, 2.5, 3.5])
def test_sigterm_in_the_first_seconds_gives_a_report_and_exit_0(
    kit: Any, start: Start, after: float
) -> None:
    # Seconds after the process started: while Python imports the lakehouse (the command holds
    # signals from its first line: cli/startup.py), while the run asks the broker for topics
    # and watermarks, joins the group, or consumes — whichever this machine is at by then.
    total = _fill(kit, "app_events", 3, 50)
    proc, log = start(kit.env(), "--follow", "--only", "app_events")
    time.sleep(after)
    code, report = _stop(proc)
    assert _ending(kit.settings, code, report) == {**STOPPED, "signal": "SIGTERM"}, _tail(log)
    assert _catch_up_after(kit, report, "app_events") == {**CAUGHT_UP, "received_by_both": total}
    kit.produced.bronze["app_events"] = total
    kit.assert_exactly_once(("app_events",))


@pytest.mark.parametrize("after", [0.0, 0.15, 0.4])
def test_sigterm_as_the_run_starts_gives_a_report_and_exit_0(
    kit: Any, start: Start, after: float
) -> None:
    # Timed from the run's first log line: before the broker is asked anything, and while the
    # consumer joins the group.
    total = _fill(kit, "app_events", 2, 40)
    proc, log = start(kit.env(), "--follow", "--only", "app_events")
    at = _wait_for(proc, log, STARTED)
    time.sleep(max(0.0, at + after - time.monotonic()))
    code, report = _stop(proc)
    assert _ending(kit.settings, code, report) == {**STOPPED, "signal": "SIGTERM"}, _tail(log)
    assert _catch_up_after(kit, report, "app_events") == {**CAUGHT_UP, "received_by_both": total}
    kit.produced.bronze["app_events"] = total
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
    code, report = _stop(proc, sig)
    assert _ending(settings, code, report) == {**STOPPED, "signal": signal.Signals(sig).name}, _tail(log)
    held = report["received"]
    assert held > 0 and report["quarantined"] == held
    assert _bronze_rows(settings, "quarantine") == held
    rest = subprocess.run(
        [*CLI, "ingest", "--source", "kafka", "--json", "--only", "transactions"],
        env=kit.env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert held + json.loads(rest.stdout)["received"] == 42
    kit.produced.quarantine["transactions"] = 42
    kit.assert_exactly_once(("transactions",))


@pytest.mark.parametrize(
    ("follow", "moment"),
    [
        (True, 4.0),  # seconds after the start: during the first 10 s attempt
        (True, "retries in 1 s"),  # waiting between attempts
        (True, "retries in 2 s"),  # the second wait: backing off
        (False, 4.0),  # catch-up: during its 10 s wait for the broker
    ],
)
def test_a_signal_while_the_broker_is_unreachable_gives_a_report_and_exit_0(
    kit: Any, start: Start, follow: bool, moment: str | float
) -> None:
    settings: Settings = kit.settings
    env = kit.env(bootstrap=UNREACHABLE)
    proc, log = start(env, *(["--follow"] if follow else []))
    if isinstance(moment, str):
        _wait_for(proc, log, moment, timeout=90)
    else:
        time.sleep(moment)
    t0 = time.monotonic()
    code, report = _stop(proc)
    assert time.monotonic() - t0 < 10, "the stop was not noticed promptly"
    assert _ending(settings, code, report) == {**STOPPED, "signal": "SIGTERM"}, _tail(log)
    assert report["bootstrap"] == UNREACHABLE and report["received"] == 0
    assert report["broker_retries"] == {"retries in 1 s": 1, "retries in 2 s": 2}.get(str(moment), 0)
    assert "Traceback" not in log.read_text()


def test_catch_up_with_an_unreachable_broker_is_still_an_error(kit: Any) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lakehouse.cli.main", "ingest", "--source", "kafka"],
        env=kit.env(bootstrap=UNREACHABLE), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    err = " ".join(done.stderr.split())
    assert f"error: Kafka at {UNREACHABLE} is unreachable" in err and "Traceback" not in err
