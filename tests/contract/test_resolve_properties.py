"""Table names as users type them (CLI arguments, API paths, SQL, `--tables`), resolved.

Every accepted spelling of a table — `layer.name`, `name_layer`, `layer_name`, its aliases —
in any case, with surrounding whitespace or double quotes, is that table; any other text is a
`TableNotFoundError` whose suggestions are real tables, never another exception.
The accepted spellings are read from the specs here, not from the registry's own map.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lakehouse.contract import REGISTRY, TableId, resolve
from lakehouse.exceptions import TableNotFoundError

SPELLINGS: dict[str, TableId] = {}
for _spec in REGISTRY:
    _t = _spec.id
    for _name in (_t.fqn, f"{_t.name}_{_t.layer}", f"{_t.layer}_{_t.name}"):
        SPELLINGS.setdefault(_name.lower(), _t)
for _spec in REGISTRY:  # an explicit alias wins over a generated name it reuses
    SPELLINGS.update({a.lower(): _spec.id for a in _spec.aliases})
FQNS = {s.id.fqn for s in REGISTRY}
PAD = st.sampled_from(["", " ", "  ", "\t", "\n", "\u3000"])


@st.composite
def typed(draw: st.DrawFn) -> tuple[str, TableId]:
    """A known spelling as someone may type it: any case, padded, perhaps in double quotes."""
    name, table = draw(st.sampled_from(sorted(SPELLINGS.items())))
    cased = "".join(c.upper() if draw(st.booleans()) else c for c in name)
    if draw(st.booleans()):
        cased = '"' + cased + '"'
    return draw(PAD) + cased + draw(PAD), table


@settings(max_examples=300, deadline=None)
@given(case=typed())
def test_every_accepted_spelling_resolves_to_its_table(case: tuple[str, TableId]) -> None:
    text, table = case
    assert resolve(text) == table


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(
    st.text(max_size=30),
    st.builds(lambda n, junk: n[: len(n) // 2] + junk + n[len(n) // 2 :], st.sampled_from(sorted(SPELLINGS)),
              st.text(min_size=1, max_size=3)),
))
def test_any_other_text_is_an_unknown_table_with_real_suggestions(text: str) -> None:
    key = text.strip().strip('"').lower()
    try:
        got = resolve(text)
    except TableNotFoundError as exc:
        outcome: object = ("unknown", exc.name, set(exc.suggestions) <= FQNS)
    else:
        outcome = got
    assert outcome == SPELLINGS.get(key, ("unknown", text, True))


def test_a_near_miss_suggests_the_table() -> None:
    with pytest.raises(TableNotFoundError) as info:
        resolve("gold.user_segmnts")
    assert "gold.user_segments" in info.value.suggestions and len(info.value.suggestions) <= 3
