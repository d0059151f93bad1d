"""The landing zone is listed safely: links, FIFOs, sockets, unreadable files and names that
are not UTF-8 are skipped with a warning and a reason in the report, and the rest lands."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow.compute as pc
import pytest

from lakehouse.config import Settings
from lakehouse.service import Lakehouse

from support import lake_env, land

REC = {"user_id": "u1", "event_type": "click", "timestamp": "2026-03-01T00:00:00Z"}


def ev(i: int) -> dict[str, str]:
    return {"event_id": f"e{i}", **REC}


def clicks(i: int) -> dict[str, str]:
    return {"click_id": f"c{i}", "user_id": "u1", "page_name": "home", "timestamp": "2026-03-01T00:00:00Z"}


def bronze_ids(lh: Lakehouse, source: str, key: str) -> list[str]:
    if not lh.store.exists(f"bronze.{source}"):
        return []
    return sorted(lh.store.dataset(f"bronze.{source}").to_table(columns=[key]).column(key).to_pylist())


def quarantined(lh: Lakehouse) -> list[dict[str, object]]:
    if not lh.store.exists("bronze.quarantine"):
        return []
    return lh.store.dataset("bronze.quarantine").to_table().to_pylist()


def skipped(report_details: dict[str, object], source: str) -> dict[str, str]:
    src = report_details["sources"][source]  # type: ignore[index]
    return {s["file"]: s["reason"] for s in src.get("skipped", [])}


def test_links_are_followed_only_to_files_inside_that_are_not_ingested_themselves(
    lh: Lakehouse, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    s = lh.settings
    land(s, "app_events", "a.ndjson", [ev(1), ev(2)])
    land(s, "clickstream", "c.ndjson", [clicks(1)])
    folder = s.landing / "app_events"
    outside = tmp_path / "outside.ndjson"
    outside.write_text(json.dumps(ev(99)) + "\n")
    staging = folder / ".staging"  # hidden: never listed itself
    staging.mkdir()
    (staging / "s.ndjson").write_text(json.dumps(ev(3)) + "\n")
    (folder / "passwd.ndjson").symlink_to("/etc/passwd")
    (folder / "outside.ndjson").symlink_to(outside)
    (folder / "relative-outside.ndjson").symlink_to(Path("..") / ".." / ".." / "outside.ndjson")
    (folder / "published.ndjson").symlink_to(staging / "s.ndjson")  # inside, not a landing file: followed
    (folder / "again.ndjson").symlink_to(folder / "a.ndjson")  # a landing file itself: read twice
    (folder / "other-source.ndjson").symlink_to(s.landing / "clickstream" / "c.ndjson")
    (folder / "broken.ndjson").symlink_to(folder / "missing.ndjson")
    (folder / "loop.ndjson").symlink_to(folder / "loop.ndjson")
    (folder / "dir-inside").symlink_to(staging, target_is_directory=True)
    (folder / "dir-outside").symlink_to(tmp_path, target_is_directory=True)
    (folder / "dir-loop").symlink_to(folder, target_is_directory=True)
    (folder / "null.ndjson").symlink_to("/dev/null")
    with caplog.at_level(logging.WARNING):
        report = lh.ingest()
    assert bronze_ids(lh, "app_events", "event_id") == ["e1", "e2", "e3"]
    assert bronze_ids(lh, "clickstream", "click_id") == ["c1"]
    assert quarantined(lh) == []  # nothing of /etc/passwd or of anything outside
    why = skipped(report.details, "app_events")
    assert set(why) == {
        f"app_events/{n}"
        for n in ("passwd.ndjson", "outside.ndjson", "relative-outside.ndjson", "again.ndjson",
                  "other-source.ndjson", "broken.ndjson", "loop.ndjson", "dir-inside", "dir-outside",
                  "dir-loop", "null.ndjson")
    }
    assert why["app_events/passwd.ndjson"] == "a link to a file outside the landing zone"
    assert why["app_events/again.ndjson"] == "a link to app_events/a.ndjson, which is ingested itself"
    assert why["app_events/dir-loop"] == "a link to a folder: links to folders are not followed"
    assert "broken or looping link" in why["app_events/loop.ndjson"]
    for name in why:
        assert any(name in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records), name
    assert report.details["balanced"] and report.details["received"] == 4
    again = lh.ingest()
    assert again.details["received"] == 0


@pytest.mark.timeout(120)  # opening the FIFO would block forever: the timeout would say so
def test_fifos_sockets_and_names_that_are_not_utf8_are_skipped_and_the_rest_lands(
    lh: Lakehouse, caplog: pytest.LogCaptureFixture
) -> None:
    s = lh.settings
    land(s, "app_events", "a.ndjson", [ev(1)])
    land(s, "clickstream", "c.ndjson", [clicks(1)])
    folder = s.landing / "app_events"
    os.mkfifo(folder / "pipe.ndjson")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock_dir = Path(tempfile.mkdtemp(prefix="lh-sock-"))  # AF_UNIX paths are short: bind nearby, move in
    try:
        sock.bind(str(sock_dir / "s"))
        shutil.move(str(sock_dir / "s"), str(folder / "socket.ndjson"))
        raw_dir = os.fsencode(folder)
        for name in (b"caf\xe9.ndjson", b"\xff\xfe.ndjson"):
            fd = os.open(raw_dir + b"/" + name, os.O_WRONLY | os.O_CREAT, 0o644)
            os.write(fd, (json.dumps(ev(50)) + "\n").encode())
            os.close(fd)
        os.mkdir(raw_dir + b"/sub\xff")
        with caplog.at_level(logging.WARNING):
            report = lh.ingest()
        again = lh.ingest()
    finally:
        sock.close()
        shutil.rmtree(sock_dir, ignore_errors=True)
    assert bronze_ids(lh, "app_events", "event_id") == ["e1"]
    assert bronze_ids(lh, "clickstream", "click_id") == ["c1"]
    why = skipped(report.details, "app_events")
    assert why == {
        "app_events/pipe.ndjson": "not a regular file (a FIFO): never opened",
        "app_events/socket.ndjson": "not a regular file (a socket): never opened",
        "app_events/caf\\xe9.ndjson": "the name is not valid UTF-8",
        "app_events/\\xff\\xfe.ndjson": "the name is not valid UTF-8",
        "app_events/sub\\xff": "the name is not valid UTF-8",
    }
    assert all(any(n in r.getMessage() for r in caplog.records) for n in why)
    assert report.status == "success" and again.details["received"] == 0
    json.dumps(report.to_dict())  # the report itself holds no undecodable text


def test_an_unreadable_file_is_skipped_and_the_rest_lands(lh: Lakehouse) -> None:
    settings = lh.settings
    land(settings, "app_events", "a.ndjson", [ev(1)])
    locked = land(settings, "app_events", "locked.ndjson", [ev(2)])
    land(settings, "clickstream", "c.ndjson", [clicks(1)])
    locked.chmod(0)
    try:
        details = _ingest_without_root_powers(settings) if os.geteuid() == 0 else lh.ingest().details
    finally:
        locked.chmod(0o644)
    assert bronze_ids(lh, "app_events", "event_id") == ["e1"]
    assert bronze_ids(lh, "clickstream", "click_id") == ["c1"]
    assert skipped(details, "app_events") == {"app_events/locked.ndjson": "not readable (permission denied)"}
    assert quarantined(lh) == []
    assert Lakehouse(settings).ingest().details["received"] == 1  # readable again: it lands once


INGEST = "import json; from lakehouse.service import Lakehouse; print(json.dumps(Lakehouse().ingest().details))"


def _ingest_without_root_powers(settings: Settings) -> dict[str, object]:
    # Root reads any file whatever its mode; without these two capabilities it obeys the mode.
    out = subprocess.run(
        ["setpriv", "--bounding-set=-dac_override,-dac_read_search", sys.executable, "-c", INGEST],
        env=lake_env(settings), capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_hidden_folders_are_not_read_and_files_in_plain_subfolders_are(lh: Lakehouse) -> None:
    s = lh.settings
    land(s, "app_events", "a.ndjson", [ev(1)])
    for sub, i in ((".inflight", 2), ("_tmp", 3), ("2026/03/01", 4)):
        (s.landing / "app_events" / sub).mkdir(parents=True)
        (s.landing / "app_events" / sub / "x.ndjson").write_text(json.dumps(ev(i)) + "\n")
    report = lh.ingest(sources=["app_events"])
    assert bronze_ids(lh, "app_events", "event_id") == ["e1", "e4"]
    labels = lh.store.dataset("bronze.app_events").to_table(columns=["_source"]).column("_source")
    assert pc.any(pc.equal(labels, "app_events/2026/03/01/x.ndjson:1")).as_py()
    assert report.details["received"] == 2


def test_a_file_replaced_between_listing_and_reading_is_skipped_not_misread(
    lh: Lakehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lakehouse.ingest import files, listing

    s = lh.settings
    land(s, "app_events", "a.ndjson", [ev(1)])
    path = land(s, "app_events", "b.ndjson", [ev(2)])
    real = listing.list_landing

    def racing(root: Path, source: str) -> listing.Listing:
        out = real(root, source)
        if source == "app_events":  # another writer renames a new version over b.ndjson now
            tmp = path.with_name(".b.new")
            tmp.write_text(json.dumps(ev(3)) + "\n" + json.dumps(ev(4)) + "\n")
            tmp.replace(path)
        return out

    monkeypatch.setattr(files, "list_landing", racing)
    report = lh.ingest(sources=["app_events"])
    assert bronze_ids(lh, "app_events", "event_id") == ["e1"]
    assert skipped(report.details, "app_events") == {
        "app_events/b.ndjson": "cannot read it (app_events/b.ndjson changed since it was listed)"
    }
    monkeypatch.setattr(files, "list_landing", real)
    lh.ingest(sources=["app_events"])  # the next run reads the file as it is now
    assert bronze_ids(lh, "app_events", "event_id") == ["e1", "e3", "e4"]
