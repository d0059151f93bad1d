"""What a role below admin is shown (`access/redact.py`): no hidden table's name, no lake path.

Hypothesis builds response bodies (nested dicts and lists of strings) from pieces: the names
of hidden tables in every spelling and any case, visible tables' names, the lake's paths, and
filler that sits right against them. Whatever the body, what the redactor returns holds no
hidden name as a word and no path (the check here scans for them itself, not with the
redactor's pattern); a body with nothing to hide comes back unchanged; a list item that is a
hidden name, and a key that is one, are left out rather than redacted.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lakehouse.access.redact import REDACTED, Redactor
from lakehouse.contract import REGISTRY

PATHS = ["/srv/lake", "/srv/lake/bronze", "/var/landing zone"]
WORD = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
FILLER = st.text(" .,:;-()[]'\"/0123456789xyzé", max_size=4)
PROPERTY = settings(max_examples=300, deadline=None)


def spellings(readable: set[str], hidden: bool) -> list[str]:
    return sorted(a for a, t in REGISTRY.aliases.items() if (t.layer not in readable) == hidden)


def _any_case(name: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(name), max_size=len(name)).map(
        lambda ups: "".join(c.upper() if u else c for c, u in zip(name, ups, strict=True)))


def bodies(pieces: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    text = st.lists(st.one_of(pieces, FILLER), max_size=5).map("".join)
    return st.recursive(
        st.one_of(text, st.integers(), st.none()),
        lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(text, kids, max_size=3)),
        max_leaves=10,
    )


def strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*strings_in(k), *strings_in(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []


def leaks(text: str, hidden: list[str]) -> list[str]:
    """Hidden names standing as words in `text` (any case), and lake paths in it."""
    low = text.lower()
    found = [p for p in PATHS if p.lower() in low]
    for name in hidden:
        at = low.find(name)
        while at >= 0:
            before = low[at - 1] if at else " "
            after = low[at + len(name)] if at + len(name) < len(low) else " "
            if before not in WORD and after not in WORD:
                found.append(name)
            at = low.find(name, at + 1)
    return found


@PROPERTY
@given(data=st.data(), readable=st.sampled_from([{"gold"}, {"silver", "gold"}]))
def test_no_hidden_name_and_no_path_is_left_in_a_body(data: st.DataObject, readable: set[str]) -> None:
    hidden = spellings(readable, hidden=True)
    # A path ends where a path ends: at a separator (glued to a word, '/srv/lakeapp_events_bronze',
    # the redacted path would leave the name after it standing as a word: not a case in practice).
    paths = st.builds(str.__add__, st.sampled_from(PATHS), st.sampled_from(["/", " ", "'", ":", ".", ")"]))
    pieces = st.one_of(st.sampled_from(hidden).flatmap(_any_case), st.sampled_from(spellings(readable, False)), paths)
    body = data.draw(bodies(pieces))
    out = Redactor(readable, PATHS).json(body)
    assert [(s, leaks(s, hidden)) for s in strings_in(out) if leaks(s, hidden)] == []


@PROPERTY
@given(data=st.data(), readable=st.sampled_from([{"gold"}, {"silver", "gold"}]))
def test_a_body_with_nothing_to_hide_comes_back_unchanged(data: st.DataObject, readable: set[str]) -> None:
    body = data.draw(bodies(st.sampled_from(spellings(readable, hidden=False))))
    assert Redactor(readable, PATHS).json(body) == body


@PROPERTY
@given(data=st.data())
def test_items_and_keys_that_are_hidden_names_are_left_out(data: st.DataObject) -> None:
    hidden = data.draw(st.lists(st.sampled_from(spellings({"gold"}, hidden=True)).flatmap(_any_case), min_size=1))
    visible = data.draw(st.lists(st.sampled_from(spellings({"gold"}, hidden=False)), max_size=3))
    r = Redactor({"gold"}, PATHS)
    assert r.json([*hidden, *visible]) == visible
    assert r.json({name: 1 for name in [*hidden, *visible]}) == {name: 1 for name in visible}
    assert r.json([{"table": hidden[0], "rows": 3}, {"table": "gold.user_segments"}]) == [
        {"table": "gold.user_segments"}]
    assert r.text(f"failed on {hidden[0]} at {PATHS[0]}/x") == f"failed on {REDACTED} at {REDACTED}/x"
