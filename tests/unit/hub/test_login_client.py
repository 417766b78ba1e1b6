"""The client's pure parts: the updates check, token files (JSON or a plain static token)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from lz.core.errors import UserError
from lz.hub.agent import login_client


def test_updates_check_up_to_date_available_and_below_minimum() -> None:
    out = io.StringIO()
    login_client.check_updates({"min_version": "0.1", "latest_version": "1.0"}, out, version="1.0")
    assert out.getvalue() == "Pulling updates…\nAlready up to date!\n"
    out = io.StringIO()
    login_client.check_updates({"min_version": "0.1", "latest_version": "1.2", "upgrade": "pip install -U lz"},
                               out, version="1.0")
    assert out.getvalue().splitlines()[1] == "lz 1.2 is available (this is 1.0); to upgrade: pip install -U lz"
    with pytest.raises(UserError, match="needs at least 1.1"):
        login_client.check_updates({"min_version": "1.1"}, io.StringIO(), version="1.0")


def test_token_files_json_and_static(tmp_path: Path) -> None:
    static = tmp_path / "static"
    static.write_text("lzh_abc\n")
    static.chmod(0o600)
    assert login_client.read_file(static) == {"access_token": "lzh_abc"}
    source = login_client.TokenSource(static, login_client.read_file(static))
    assert source() == "lzh_abc" and source.force_refresh() is False  # nothing to refresh: never rotated
    saved = tmp_path / "dir" / "token"
    login_client.save(saved, {"access_token": "a", "refresh_token": "r", "expires_at": 1e12})
    assert saved.stat().st_mode & 0o777 == 0o600 and json.loads(saved.read_text())["refresh_token"] == "r"
    assert [p.name for p in saved.parent.iterdir() if p.name.endswith(".tmp")] == []
    static.chmod(0o644)
    with pytest.raises(UserError, match="readable by others"):
        login_client.read_file(static)
    assert login_client.usable(tmp_path / "missing") is None
