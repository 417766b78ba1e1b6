"""``lz station notifications add|list|remove`` against a real hub (uvicorn on a loopback port,
``test_client_hub``'s fixture), and the pure body builder."""

from __future__ import annotations

from click.testing import CliRunner, Result

from lz.cli import main
from lz.cli.station_notifications import subscription_body
from lz.hub.protocol.notifications import subscription_text
from tests.unit.cli.test_client_hub import Hub, hub

__all__ = ["hub"]  # the fixture


def _lz(hub: Hub, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--hub", hub.url, "--token", str(hub.token_file)])


def test_the_options_become_the_apis_body_and_a_row_one_line() -> None:
    assert subscription_body("web", None, ()) == {"channel": "web", "events": ["notifications", "job_end"]}
    assert subscription_body("email", "a@b.org", ("job_end", "job_end")) == {
        "channel": "email", "target": "a@b.org", "events": ["job_end"]}
    assert subscription_text({"id": 4, "channel": "webhook", "target": "https://h/x", "events": ["job_end"]}) == (
        "4  webhook  https://h/x  job_end")
    assert subscription_text({"id": 5, "channel": "web", "target": None, "events": ["notifications"]}) == (
        "5  web  -  notifications")


def test_subscribe_list_and_remove_from_the_command_line(hub: Hub) -> None:
    assert _lz(hub, "station", "notifications", "list", "lab").output == "none: web alerts only\n"
    web = _lz(hub, "station", "notifications", "add", "lab", "web")
    assert web.exit_code == 0, web.output
    mail = _lz(hub, "station", "notifications", "add", "lab", "email", "alice@example.org", "--event", "job_end")
    assert mail.exit_code == 0, mail.output
    hook = _lz(hub, "station", "notifications", "add", "lab", "webhook", "https://hooks.invalid/lz")
    assert hook.exit_code == 0, hook.output
    secret = hook.output.splitlines()[-1].rsplit(" ", 1)[-1]
    assert "shown once" in hook.output and len(secret) >= 40
    listed = _lz(hub, "station", "notifications", "list", "lab").output.splitlines()
    assert [line.split("  ")[1:] for line in listed] == [
        ["web", "-", "notifications,job_end"], ["email", "alice@example.org", "job_end"],
        ["webhook", "https://hooks.invalid/lz", "notifications,job_end"]]
    assert secret not in "\n".join(listed)
    # the hub refuses a webhook to its own loopback (SSRF) in one line
    refused = _lz(hub, "station", "notifications", "add", "lab", "webhook", "http://127.0.0.1:8080/")
    assert refused.exit_code == 2 and refused.output.count("\n") == 1, refused.output
    assert "loopback" in refused.output
    bad = _lz(hub, "station", "notifications", "add", "lab", "email", "nobody")
    assert bad.exit_code == 2 and "is not an e-mail address" in bad.output
    first_id = listed[0].split()[0]
    removed = _lz(hub, "station", "notifications", "remove", "lab", first_id)
    assert removed.output == f"removed way {first_id} of station lab\n"
    assert len(_lz(hub, "station", "notifications", "list", "lab").output.splitlines()) == 2
    again = _lz(hub, "station", "notifications", "remove", "lab", first_id)
    assert again.exit_code != 0 and f"no subscription {first_id}" in again.output
