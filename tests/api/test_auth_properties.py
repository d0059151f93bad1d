"""API keys as clients send them (`api/auth.py`), on a real key ring in the metadata store.

A real key in `X-API-Key`, or after `Bearer` (any case, any spaces around it), is let in;
anything else in either header — random text, a real key altered by one character, another
scheme — is a 401 in the one error shape with `WWW-Authenticate: Bearer`, never a 500.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
VISIBLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)  # what an HTTP header carries as text
SPACES = st.text(" ", max_size=3)
ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"


def _refusal(r: Any) -> tuple[int, str | None, str | None]:
    """Status, error code and WWW-Authenticate of a response (the code is None when not JSON)."""
    try:
        code = r.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = None
    return r.status_code, code, r.headers.get("www-authenticate")


UNAUTHENTICATED = (401, "unauthenticated", "Bearer")


def _token(keys: dict[str, dict[str, str]]) -> str:
    return keys["reader"]["Authorization"].removeprefix("Bearer ")


@PROPERTY
@given(header=st.sampled_from(["Authorization", "X-API-Key"]), value=st.text(VISIBLE, max_size=60))
def test_any_other_header_value_is_a_401(
    client: TestClient, keys: dict[str, dict[str, str]], header: str, value: str
) -> None:
    token = _token(keys)
    if token in value:  # a real key, however wrapped, is not "any other value"
        value = value.replace(token, "")
    r = client.get("/tables", headers={header: value})
    assert _refusal(r) == UNAUTHENTICATED, r.text[:300]


@PROPERTY
@given(scheme=st.sampled_from(["Bearer", "bearer", "BEARER", "bEaReR"]), before=SPACES, after=SPACES,
       x_api_key=st.booleans())
def test_a_real_key_is_let_in_however_it_is_spaced(
    client: TestClient, keys: dict[str, dict[str, str]], scheme: str, before: str, after: str, x_api_key: bool
) -> None:
    token = _token(keys)
    headers = {"X-API-Key": token} if x_api_key else {"Authorization": f"{scheme} {before}{token}{after}"}
    r = client.get("/tables", headers=headers)
    assert r.status_code == 200, r.text[:300]


@PROPERTY
@given(data=st.data(), header=st.sampled_from(["Authorization", "X-API-Key"]))
def test_a_key_altered_by_one_character_is_a_401(
    client: TestClient, keys: dict[str, dict[str, str]], data: st.DataObject, header: str
) -> None:
    token = _token(keys)
    i = data.draw(st.integers(0, len(token) - 1))
    other = data.draw(st.sampled_from([c for c in ALPHABET if c != token[i]]))
    altered = token[:i] + other + token[i + 1 :]
    r = client.get("/tables", headers={header: f"Bearer {altered}" if header == "Authorization" else altered})
    assert _refusal(r) == UNAUTHENTICATED, r.text[:300]


@PROPERTY
@given(scheme=st.sampled_from(["Basic ", "Token ", "Bearer", "Bearer:", "Bearer\t", "Bearer, ", "ApiKey ", ""]))
def test_a_real_key_under_another_scheme_is_a_401(
    client: TestClient, keys: dict[str, dict[str, str]], scheme: str
) -> None:
    r = client.get("/tables", headers={"Authorization": f"{scheme}{_token(keys)}"})
    assert _refusal(r) == UNAUTHENTICATED, r.text[:300]
