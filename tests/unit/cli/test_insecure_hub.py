"""A hub URL is https, or plain http to loopback only, unless allowed on purpose (issue 21, TLS):
over http to another machine a token travels in clear and an impersonated hub sends jobs to every
zone. One rule (``lz.hub.protocol.transport.check_hub_url``), checked at every entry point."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from lz.cli import main
from lz.config import load_settings
from lz.core.errors import UserError
from lz.hub.protocol.transport import check_hub_url
from lz.ops.doctor import HubAnswer, _hub

REMOTE = "http://10.0.0.7:8750"


@pytest.mark.parametrize("url", ["http://127.0.0.1:8750", "http://127.5.6.7", "http://localhost:80/",
                                 "http://[::1]:8750", "https://hub.example", "https://10.0.0.7:443"])
def test_https_and_loopback_http_are_accepted(url: str) -> None:
    assert check_hub_url(url) == url


@pytest.mark.parametrize("url", [REMOTE, "http://hub.example", "http://localhost.evil.example",
                                 "http://127.0.0.1.nip.io", "http://[::2]:80"])
def test_plain_http_elsewhere_is_refused_unless_allowed(url: str) -> None:
    with pytest.raises(UserError, match="--allow-insecure-hub") as refused:
        check_hub_url(url)
    assert "\n" not in str(refused.value)
    assert check_hub_url(url, allow_insecure=True) == url


@pytest.mark.parametrize("url", ["ftp://hub", "hub.example:8750", "http://", "https://[::1"])
def test_what_is_no_hub_url_is_refused(url: str) -> None:
    with pytest.raises(UserError):
        check_hub_url(url)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "XDG_STATE_HOME": str(tmp_path / "state"), "LZ_HUB": "", "LZ_CONFIG": "",
            "LZ_ALLOW_INSECURE_HUB": "", **extra}


ENTRY_POINTS = [
    ["status", "--hub", REMOTE],
    ["login", "--hub", REMOTE],
    ["run", "--hub", REMOTE],
    ["pilots", "submit", "--count", "1", "--no-image", "--dry-run", "--hub", REMOTE],
    ["zones"],  # LZ_HUB below
    ["run"],  # the setting, from the environment
]


@pytest.mark.parametrize("argv", ENTRY_POINTS, ids=lambda argv: " ".join(argv[:2]))
def test_every_entry_point_refuses_plain_http_elsewhere_in_one_line(tmp_path: Path, argv: list[str]) -> None:
    env = _env(tmp_path, LZ_HUB=REMOTE) if "--hub" not in argv else _env(tmp_path)
    result = CliRunner().invoke(main, argv, env=env)
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert "\n" not in line and line.startswith("lz: error: hub URL 'http://10.0.0.7:8750' is plain http")
    assert "--allow-insecure-hub" in line and "allow_insecure_hub" in line


def test_the_setting_in_a_config_file_is_refused_and_can_be_allowed(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'hub = "{REMOTE}"\n')
    with pytest.raises(UserError, match="plain http"):
        load_settings(config, environ={"HOME": str(tmp_path)})
    config.write_text(f'hub = "{REMOTE}"\nallow_insecure_hub = true\n')
    assert load_settings(config, environ={"HOME": str(tmp_path)}).allow_insecure_hub is True
    assert load_settings(environ={"HOME": str(tmp_path), "LZ_HUB": REMOTE, "LZ_ALLOW_INSECURE_HUB": "true"}).hub == REMOTE


def test_allowed_pilots_pass_the_permission_on(tmp_path: Path) -> None:
    argv = ["pilots", "submit", "--count", "1", "--no-image", "--dry-run", "--hub", REMOTE, "--allow-insecure-hub"]
    result = CliRunner().invoke(main, argv, env=_env(tmp_path))
    assert result.exit_code == 0, result.output
    assert f"--hub {REMOTE} --token" in result.stdout and result.stdout.rstrip().endswith("--allow-insecure-hub")
    allowed_by_env = CliRunner().invoke(main, argv[:-1], env=_env(tmp_path, LZ_ALLOW_INSECURE_HUB="true"))
    assert allowed_by_env.exit_code == 0 and "--allow-insecure-hub" in allowed_by_env.stdout


def test_a_wrong_permission_value_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["status", "--hub", REMOTE], env=_env(tmp_path, LZ_ALLOW_INSECURE_HUB="maybe"))
    assert result.exit_code == 2 and result.stderr.strip() == "lz: error: LZ_ALLOW_INSECURE_HUB: 'maybe' is not true or false"


def test_doctor_never_sends_the_token_over_plain_http_elsewhere(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("secret")
    token.chmod(0o600)

    def fetch(url: str, token: str | None, timeout: float) -> HubAnswer:
        raise AssertionError(f"no request may be made ({url})")

    found = list(_hub(REMOTE, token, fetch, lambda: 0.0))
    assert [(c.name, c.verdict) for c in found] == [("hub", "fail"), ("clock", "skip")]
    assert "plain http" in found[0].detail


def test_a_hub_listening_elsewhere_says_clients_need_tls(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from types import SimpleNamespace

    from lz.cli.hub import _say_where

    for host, public_url, warned in (("0.0.0.0", None, True), ("127.0.0.1", None, False),
                                     ("[::]", "https://hub.example.org", False)):
        _say_where(host, "8750", SimpleNamespace(public_url=public_url, db_url="sqlite://", files_dir=tmp_path), None,
                   f"folder {tmp_path}")
        assert ("put a TLS proxy in front" in capsys.readouterr().out) is warned, host


def test_a_hub_that_does_not_answer_is_one_line_not_a_traceback() -> None:
    """An untrusted certificate (or no answer) after the retries: one line, exit 2."""
    import click

    from lz.cli.common import Group
    from lz.hub.agent.client import HubUnavailable

    @click.group(cls=Group)
    def group() -> None:
        pass

    @group.command()
    def ask() -> None:
        raise HubUnavailable("hub https://hub.example.org unreachable (SSLError: its TLS certificate is not trusted)")

    result = CliRunner().invoke(group, ["ask"])
    assert result.exit_code == 2
    assert result.stderr == "lz: error: hub https://hub.example.org unreachable (SSLError: its TLS certificate is not trusted)\n"
