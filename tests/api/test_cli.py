from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from lakehouse.access import KeyRing
from lakehouse.cli import keys
from lakehouse.cli.serve import check_bind
from lakehouse.config import ApiSettings, Settings
from lakehouse.metadata.store import MetadataStore


def test_keys_create_list_revoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_BASE_PATH", str(tmp_path / "lake"))
    runner = CliRunner()
    created = runner.invoke(keys.app, ["create", "--role", "analyst", "--name", "ci"])
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    store = MetadataStore.open(Settings().metadata_dsn)
    who = KeyRing(store).verify(token)
    assert who is not None and who.role.name == "analyst"
    listed = runner.invoke(keys.app, ["list"])
    assert "ci" in listed.output and token not in listed.output
    key_id = store.api_keys()[0].key_id
    assert runner.invoke(keys.app, ["revoke", key_id]).exit_code == 0
    assert KeyRing(store).verify(token) is None
    assert runner.invoke(keys.app, ["revoke", key_id]).exit_code == 1
    assert runner.invoke(keys.app, ["create", "--role", "root"]).exit_code != 0
    store.close()


def test_serve_refuses_open_api_off_localhost() -> None:
    open_api = Settings(api=ApiSettings(auth=False))
    check_bind(open_api, "127.0.0.1")
    with pytest.raises(typer.BadParameter, match="refusing"):
        check_bind(open_api, "0.0.0.0")
    check_bind(Settings(), "0.0.0.0")  # with auth on any host is fine
