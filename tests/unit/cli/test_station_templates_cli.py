"""``lz station template|role``, ``lz submit --template`` and ``lz resubmit`` against a real hub
(uvicorn on a loopback port, ``test_client_hub``'s fixture), and the pure template option builder."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lz.cli import main
from lz.core.errors import UserError
from lz.hub.protocol.templates import template_body, template_text
from tests.unit.cli.test_client_hub import Hub, hub, job_folder, run_on_the_landing_zone

__all__ = ["hub"]  # the fixture


def _lz(hub: Hub, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--hub", hub.url, "--token", str(hub.token_file)])


def test_template_options_become_the_apis_body() -> None:
    body = template_body({"cpus": "2", "max_cpus": "8", "memory": "4G", "max_time": "1-00:00:00", "min_gpus": "0"},
                         "small jobs", ("command",), False, (8888,))
    assert body == {"description": "small jobs", "runtimes": ["command"], "distributed": False, "ports": [8888],
                    "cpus": {"default": 2, "max": 8}, "memory_mb": {"default": 4096},
                    "gpus": {"min": 0}, "time_s": {"max": 86400}}
    assert template_text(body) == ("cpus 2 [..8], memory 4G [..], gpus - [0..], time - [..1-00:00:00], "
                                   "runtimes command, ports 8888 (small jobs)")
    with pytest.raises(UserError, match="--max-memory: memory 'lots'"):
        template_body({"max_memory": "lots"})
    with pytest.raises(UserError, match="--min-cpus 'x': not a whole number"):
        template_body({"min_cpus": "x"})


def test_templates_roles_and_submit_again_from_the_command_line(hub: Hub, tmp_path: Path) -> None:
    added = _lz(hub, "station", "template", "add", "lab", "small", "--cpus", "2", "--max-cpus", "4",
                "--memory", "1G", "--runtime", "command")
    assert added.exit_code == 0, added.output
    assert added.output == "template small of station lab: cpus 2 [..4], memory 1G [..], runtimes command\n"
    assert _lz(hub, "station", "template", "list", "lab").output == (
        "small: cpus 2 [..4], memory 1G [..], runtimes command\n")
    folder = job_folder(tmp_path, "calc")
    submitted = _lz(hub, "submit", str(folder), "--station", "lab", "--template", "small", "--json")
    assert submitted.exit_code == 0, submitted.output
    job_id = submitted.output.strip().splitlines()[-1]
    job = hub.call("GET", f"/jobs/{job_id}")
    assert (job["resources"]["cpus"], job["resources"]["memory_mb"]) == (2, 1024)
    refused = _lz(hub, "submit", str(folder), "--station", "lab", "--template", "small", "--cpus", "8")
    assert (refused.exit_code, refused.output.splitlines()[-1]) == (
        2, "lz: error: template 'small': cpus 8 is more than its max 4")
    local = CliRunner().invoke(main, ["submit", str(folder), "--template", "small"])
    assert local.exit_code == 2 and "--template is for hub jobs" in local.output
    run_on_the_landing_zone(hub)
    again = _lz(hub, "resubmit", job_id)
    assert again.exit_code == 0, again.output
    new_id = again.output.strip().splitlines()[-1]
    assert new_id != job_id and hub.call("GET", f"/jobs/{new_id}")["resources"] == job["resources"]
    assert _lz(hub, "station", "template", "remove", "lab", "small").exit_code == 0
    # roles: a custom one, given to nobody, then removed
    assert _lz(hub, "station", "role", "add", "lab", "viewer", "--flag", "others_jobs").exit_code == 0
    listed = _lz(hub, "station", "role", "list", "lab").output.splitlines()
    assert listed[0].split() == ["owner", "built", "in", *sorted(["launch", "templates", "add_zones", "remove_zones",
                                                                   "others_jobs", "volumes", "ports",
                                                                   "manage_templates", "manage_members"])]
    assert listed[-1].split() == ["viewer", "custom", "others_jobs"]
    given = _lz(hub, "station", "role", "give", "lab", "alice", "viewer")
    assert given.exit_code == 2 and "alice owns station 'lab'" in given.output
    assert _lz(hub, "station", "role", "remove", "lab", "viewer").exit_code == 0
