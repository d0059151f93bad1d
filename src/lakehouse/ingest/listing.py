"""Listing the landing zone: `<landing>/<source>/**` without following folder links.

Writers that land atomically (write `.name` or `name.tmp`, then rename) never expose a
partial line: names starting with `.` or `_` (files and folders) and names ending in
`.tmp`/`.partial` are never read. A file link is followed only to a regular file inside the
landing zone that is not itself a landing file (it would be read twice). FIFOs, devices,
sockets, unreadable files, names that are not UTF-8, links to folders, broken or looping
links and links outside are skipped, each with a warning and a reason in the run report;
nothing skipped is ever opened.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from lakehouse.exceptions import InputError
from lakehouse.ingest.landing import LandingFile

log = logging.getLogger(__name__)

SUFFIXES = (".ndjson", ".json", ".jsonl")


@dataclass(frozen=True)
class Skipped:
    rel: str  # printable (a name that is not UTF-8 is shown with escapes)
    reason: str


@dataclass
class Listing:
    files: list[LandingFile] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def printable(rel: str) -> str:
    return os.fsencode(rel).decode("utf-8", errors="backslashreplace")


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # os.scandir hands undecodable bytes over as surrogates
        return False
    return True


def _ignored(name: str) -> bool:
    return name.startswith((".", "_")) or name.endswith((".tmp", ".partial"))


def is_landing_name(name: str) -> bool:
    return not _ignored(name) and name.endswith(SUFFIXES)


def list_landing(landing_root: Path, source: str) -> Listing:
    """The source's landing files in name order, and what was skipped and why."""
    out = Listing()
    folder = landing_root / source
    try:
        st = os.lstat(folder)
    except FileNotFoundError:
        return out
    if stat.S_ISLNK(st.st_mode):
        _skip(out, source, "a link to a folder: links to folders are not followed")
        return out
    if not stat.S_ISDIR(st.st_mode):
        raise InputError(f"landing path {folder} is not a directory", hint="point LAKEHOUSE_LANDING_PATH at a folder")
    root = Path(os.path.realpath(landing_root))
    _walk(folder, source, root, out)
    return out


def _skip(out: Listing, rel: str, reason: str) -> None:
    shown = printable(rel)
    log.warning("landing %s skipped: %s", shown, reason)
    out.skipped.append(Skipped(shown, reason))


def _walk(folder: Path, rel_folder: str, root: Path, out: Listing) -> None:
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        _skip(out, rel_folder, f"cannot list the folder ({exc.strerror or exc})")
        return
    for entry in entries:
        name = entry.name
        rel = f"{rel_folder}/{name}"
        if _ignored(name):
            continue
        if not _utf8(name):
            _skip(out, rel, "the name is not valid UTF-8")
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError as exc:
            _skip(out, rel, f"cannot stat it ({exc.strerror or exc})")
            continue
        if stat.S_ISDIR(st.st_mode):
            _walk(Path(entry.path), rel, root, out)
        elif stat.S_ISLNK(st.st_mode):
            _link(Path(entry.path), rel, root, out)
        elif not name.endswith(SUFFIXES):
            continue
        elif not stat.S_ISREG(st.st_mode):
            _skip(out, rel, f"not a regular file ({_kind(st.st_mode)}): never opened")
        elif not os.access(entry.path, os.R_OK):
            _skip(out, rel, "not readable (permission denied)")
        else:
            out.files.append(LandingFile(Path(entry.path), rel, st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino))


def _link(path: Path, rel: str, root: Path, out: Listing) -> None:
    try:
        target = Path(os.path.realpath(path, strict=True))
        st = os.stat(target)
    except (OSError, RuntimeError) as exc:
        _skip(out, rel, f"a broken or looping link ({getattr(exc, 'strerror', None) or exc})")
        return
    if stat.S_ISDIR(st.st_mode):
        _skip(out, rel, "a link to a folder: links to folders are not followed")
        return
    if not path.name.endswith(SUFFIXES):
        return
    if not target.is_relative_to(root):
        _skip(out, rel, "a link to a file outside the landing zone")
        return
    if not stat.S_ISREG(st.st_mode):
        _skip(out, rel, f"a link to something that is not a regular file ({_kind(st.st_mode)})")
        return
    inside = target.relative_to(root).parts
    if len(inside) >= 2 and all(not _ignored(p) for p in inside[:-1]) and is_landing_name(inside[-1]):
        _skip(out, rel, f"a link to {'/'.join(inside)}, which is ingested itself")
        return
    if not os.access(target, os.R_OK):
        _skip(out, rel, "not readable (permission denied)")
        return
    out.files.append(LandingFile(target, rel, st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino))


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"
