"""The landing zone's listing (`ingest/listing.py`) on real folders, whatever the names.

Hypothesis lays out trees of regular files and folders with names that are odd in every way
the rules care about (a leading `.` or `_`, a `.tmp` or `.partial` end, a landing suffix or
another, any Unicode, spaces, quotes) and some they must not care about. The listing must
hold exactly the files whose every folder and own name pass the rules and whose name ends in
a landing suffix, each once, in name order (depth first), with its path relative to the
landing root as its identity, and skip nothing (there is nothing here to skip).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakehouse.ingest.listing import list_landing

SUFFIXES = (".ndjson", ".json", ".jsonl")
IGNORED_START = (".", "_")
IGNORED_END = (".tmp", ".partial")

# Short stems from a few characters often meet in one folder (their order is then tested);
# the rest are any Unicode a file name can hold.
stems = st.one_of(
    st.text("aAbB Z'é1", min_size=1, max_size=3),
    st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="/\x00"), min_size=1, max_size=8),
).filter(lambda s: s not in (".", "..") and len(s.encode()) < 200)
ends = st.one_of(
    st.sampled_from(SUFFIXES),
    st.sampled_from(SUFFIXES),
    st.sampled_from(["", ".tmp", ".partial", ".ndjson.tmp", ".NDJSON", ".txt", ".ndjson.partial", ".json "]),
)
file_names = st.builds(lambda pre, stem, end: pre + stem + end, st.sampled_from(["", "", "", "", ".", "_"]), stems, ends)
folder_names = st.one_of(st.sampled_from(["a", "B", "b", "sub dir", "_private", ".hidden", "x.tmp", "é"]), stems)
trees = st.lists(
    st.builds(lambda folders, name: (*folders, name), st.lists(folder_names, max_size=2), file_names),
    min_size=1,
    max_size=12,
)


def _passes(part: str) -> bool:
    return not part.startswith(IGNORED_START) and not part.endswith(IGNORED_END)


def _lay_out(folder: Path, paths: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Create the files (a path that would need a file as its folder, or a folder as a file, is dropped)."""
    made: list[tuple[str, ...]] = []
    for parts in dict.fromkeys(paths):
        if any(parts[: len(m)] == m or m[: len(parts)] == parts for m in made):
            continue
        path = folder.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b'{"a": 1}\n' * (len(made) + 1))
        made.append(parts)
    return made


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(paths=trees)
def test_the_listing_holds_exactly_the_landing_files_in_name_order(paths: list[tuple[str, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        made = _lay_out(root / "app_events", paths)
        listing = list_landing(root, "app_events")
        expected = sorted(p for p in made if all(map(_passes, p)) and p[-1].endswith(SUFFIXES))
        sizes = {("app_events/" + "/".join(p)): (root / "app_events").joinpath(*p).stat().st_size for p in made}
        assert [(f.rel, f.size) for f in listing.files] == [
            ("app_events/" + "/".join(p), sizes["app_events/" + "/".join(p)]) for p in expected
        ]
        assert listing.skipped == []
        assert len({f.app_id for f in listing.files}) == len(listing.files)  # each file its own marker


def test_a_missing_source_folder_lists_nothing(tmp_path: Path) -> None:
    listing = list_landing(tmp_path, "clickstream")
    assert (listing.files, listing.skipped) == ([], [])
