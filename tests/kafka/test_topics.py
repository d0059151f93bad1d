"""Topics that do not exist are said, per source and as an error when none does; never created
unless asked (`--create-topics`)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lakehouse.config import SOURCES, Settings
from lakehouse.exceptions import ConfigError
from lakehouse.service import Lakehouse
from lakehouse.storage.delta import DeltaStore

from support import by_source

pytestmark = pytest.mark.kafka

CLI = [sys.executable, "-m", "lakehouse.cli.main"]



def _swap(p: str) -> str:
    i = next(i for i in range(5, len(p) - 1) if p[i] != p[i + 1])
    return p[:i] + p[i + 1] + p[i] + p[i + 2 :]


# Ways to mistype a prefix like "test-1a2b3c4d5e.": swapped characters, a lost dot, a wrong
# case, a character too many.
TYPOS: dict[str, Callable[[str], str]] = {
    "swapped": _swap,
    "no dot": lambda p: p[:-1],
    "case": lambda p: p.upper(),
    "extra": lambda p: p[:-1] + "x.",
}


def _ingest(kit: Any, *extra: str, prefix: str | None = None) -> subprocess.CompletedProcess[str]:
    env = kit.env()
    if prefix is not None:
        env["LAKEHOUSE_KAFKA__TOPIC_PREFIX"] = prefix
    return subprocess.run(
        [*CLI, "ingest", "--source", "kafka", "--json", *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _existing(kit: Any, names: list[str]) -> set[str]:
    topics = kit.admin.list_topics(timeout=10).topics
    return {t for t in names if t in topics}


def _one_error(stderr: str) -> str:
    err = " ".join(stderr.split())  # the console wraps long lines
    assert err.count("error:") == 1 and "Traceback" not in err, stderr
    return err


def _latest_report(settings: Settings) -> dict[str, Any]:
    reports = sorted(settings.logs_path.glob("ingest_*.json"), key=lambda p: p.stat().st_mtime)
    data: dict[str, Any] = json.loads(reports[-1].read_text())
    return data


@pytest.mark.parametrize("follow", [False, True], ids=["catch-up", "follow"])
@pytest.mark.parametrize("typo", list(TYPOS))
def test_a_mistyped_prefix_is_an_error_naming_the_topics_and_creates_none(
    kit: Any, typo: str, follow: bool
) -> None:
    settings: Settings = kit.settings
    for s in SOURCES:
        kit.create(s, 1)
    wrong = TYPOS[typo](settings.kafka.topic_prefix)
    wanted = [f"{wrong}{s}" for s in SOURCES]
    done = _ingest(kit, *(["--follow"] if follow else []), prefix=wrong)
    err = _one_error(done.stderr)
    assert done.returncode == 1, done.stderr
    assert err.startswith("error: none of the topics"), err
    assert all(t in err for t in wanted), err
    assert "similar topics:" in err and kit.topic("app_events") in err, err  # via difflib
    assert "--create-topics" in err
    assert _existing(kit, wanted) == set()  # nothing was created, following or not
    failed = _latest_report(settings)
    assert failed["status"] == "failed" and failed["missing_topics"] == wanted


def test_the_facade_raises_a_config_error_when_no_topic_exists(kit: Any) -> None:
    with pytest.raises(ConfigError) as err:
        Lakehouse(kit.settings).ingest(source="kafka", sources=["clickstream"])
    assert kit.topic("clickstream") in str(err.value)
    assert _existing(kit, [kit.topic("clickstream")]) == set()


@pytest.mark.parametrize("present", [["app_events"], ["clickstream", "service_logs", "cdc_changes"]])
def test_some_missing_topics_are_a_warning_and_in_the_report(kit: Any, present: list[str]) -> None:
    for s in present:
        kit.create(s, 2)
        kit.send(s, [b"{}", b"not json"], 0)
        kit.send(s, [b"{}"], 1)
    missing = [s for s in SOURCES if s not in present]
    done = _ingest(kit)
    assert done.returncode == 0, done.stderr
    warning = " ".join(done.stderr.split())
    assert "WARNING" in warning and all(kit.topic(s) in warning for s in missing), done.stderr
    d = json.loads(done.stdout)
    assert d["missing_topics"] == [kit.topic(s) for s in missing]
    assert d["created_topics"] == []
    per = by_source(d)
    for s in SOURCES:
        assert per[s]["topic"] == kit.topic(s)
        assert per[s]["topic_exists"] is (s in present)
        assert per[s]["received"] == (3 if s in present else 0)
    assert d["received"] == 3 * len(present) and d["balanced"] is True
    assert _existing(kit, [kit.topic(s) for s in missing]) == set()


def test_following_with_a_missing_topic_reads_it_once_it_is_created_by_its_producer(
    kit: Any, tmp_path: Path
) -> None:
    settings: Settings = kit.settings
    kit.create("app_events", 1)
    kit.send("app_events", [kit.event("a", i) for i in range(5)], 0)
    log = tmp_path / "ingest.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [*CLI, "ingest", "--source", "kafka", "--json", "--follow",
             "--only", "app_events", "--only", "clickstream"],
            env=kit.env(), stdout=subprocess.PIPE, stderr=err, text=True,
        )  # fmt: skip
    try:
        store = DeltaStore(settings)

        def rows(table: str) -> int:
            return store.dataset(table).count_rows() if store.exists(table) else 0

        kit.wait_until(lambda: rows("bronze.app_events") == 5, 60, "app_events ingested")
        assert "clickstream" in log.read_text()  # the warning
        assert _existing(kit, [kit.topic("clickstream")]) == set()
        kit.create("clickstream", 1)  # a producer comes later
        kit.send("clickstream", [b"{}"] * 3, 0)
        kit.wait_until(lambda: rows("bronze.quarantine") == 3, 90, "the new topic read")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, log.read_text()[-2000:]
    clicks = by_source(json.loads(out))["clickstream"]
    assert clicks["topic_exists"] is False  # as it was at the start
    assert clicks["received"] == 3


@pytest.mark.parametrize("follow", [False, True], ids=["catch-up", "follow"])
def test_create_topics_creates_the_requested_missing_topics_only(
    kit: Any, tmp_path: Path, follow: bool
) -> None:
    settings: Settings = kit.settings
    kit.create("clickstream", 1)
    asked = ["app_events", "clickstream", "transactions"]
    args = ["--create-topics", *(a for s in asked for a in ("--only", s))]
    if follow:
        log = tmp_path / "ingest.log"
        with log.open("w") as err:
            proc = subprocess.Popen(
                [*CLI, "ingest", "--source", "kafka", "--json", "--follow", *args],
                env=kit.env(), stdout=subprocess.PIPE, stderr=err, text=True,
            )  # fmt: skip
        try:
            kit.wait_until(
                lambda: len(_existing(kit, [kit.topic(s) for s in asked])) == 3, 60, "created"
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, log.read_text()[-2000:]
    else:
        done = _ingest(kit, *args)
        assert done.returncode == 0, done.stderr
        out = done.stdout
    d = json.loads(out)
    assert d["created_topics"] == [kit.topic("app_events"), kit.topic("transactions")]
    assert d["missing_topics"] == []
    md = kit.admin.list_topics(timeout=10).topics
    for s in ("app_events", "transactions"):
        assert len(md[kit.topic(s)].partitions) == settings.kafka.partitions
    others = [kit.topic(s) for s in SOURCES if s not in asked]
    assert _existing(kit, others) == set()
