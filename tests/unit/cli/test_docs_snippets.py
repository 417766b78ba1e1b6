"""Docs as tests (issue 24, item 3): every TOML snippet in README.md and docs/ is loaded the way
lz loads it (a landing zone's configuration, or a job's lz.toml), and every shell snippet is
valid shell, so no snippet can drift from the code. The README's configuration example did not
load (an unquoted `python-3.11` key is a nested table in TOML)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lz.config import load_settings
from lz.intake.spec_file import load_spec
from tests.paths import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.M | re.S)
JOB_KEYS = re.compile(r"^(command|recipe|\[resources\]|\[volumes\]|env)\b", re.M)


def snippets(kind: str) -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        text = path.read_text()
        for match in FENCE.finditer(text):
            if match.group(1) == kind:
                line = text[: match.start()].count("\n") + 1
                found.append((f"{path.relative_to(ROOT)}:{line}", match.group(2)))
    return found


@pytest.mark.parametrize(("where", "text"), snippets("toml"), ids=[w for w, _ in snippets("toml")])
def test_every_toml_snippet_loads(where: str, text: str, tmp_path: Path) -> None:
    if JOB_KEYS.search(text) and "executor" not in text and "[slurm]" not in text:
        (tmp_path / "run.sh").write_text("true\n")
        (tmp_path / "Dockerfile").write_text("FROM busybox\n")
        (tmp_path / "lz.toml").write_text(text)
        load_spec(tmp_path, require_command=False)
        return
    config = tmp_path / "config.toml"
    config.write_text(text)
    load_settings(config, {"HOME": str(tmp_path)})


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize(("where", "text"), snippets("sh") + snippets("bash"),
                         ids=[w for w, _ in snippets("sh") + snippets("bash")])
def test_every_shell_snippet_is_valid_shell(where: str, text: str) -> None:
    checked = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, f"{where}: {checked.stderr}"


def test_the_snippets_are_found() -> None:
    assert len(snippets("toml")) >= 6 and len(snippets("sh")) >= 10


@pytest.mark.parametrize(("where", "text"), snippets("python"), ids=[w for w, _ in snippets("python")])
def test_every_python_snippet_compiles_and_imports_what_lz_client_has(where: str, text: str) -> None:
    """Python blocks (the Python API's notebook) are compiled, not run (they need a landing zone:
    tests/integration/test_python_api.py runs the same calls); what they import from lz.client exists."""
    import lz.client

    compile(text, where, "exec")
    for names in re.findall(r"^from lz\.client import (.+)$", text, re.M):
        missing = [n.strip() for n in names.split(",") if not hasattr(lz.client, n.strip())]
        assert not missing, f"{where}: lz.client has no {missing}"


def test_the_python_api_page_documents_every_public_call() -> None:
    from lz.client import Client, Job

    page = (ROOT / "docs" / "python-api.md").read_text()
    public = {f"client.{n}(" for n in vars(Client) if not n.startswith("_") and n not in ("for_settings", "for_hub")}
    public |= {f"job.{n}" for n in vars(Job) if not n.startswith("_") and n not in ("control",)}
    assert not [call for call in sorted(public) if call not in page]
