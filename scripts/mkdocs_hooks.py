"""mkdocs hook: publish the generated pictures that live outside docs/ (the state diagram is
drawn into state_diagrams/ by `lz diagram`), so the site never holds a stale copy of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
EXTRA = [("state_diagrams", "job_lifecycle.svg"), ("state_diagrams", "hub_job.svg")]


def on_files(files: Files, config: Any) -> Files:
    for directory, name in EXTRA:
        files.append(File(f"{directory}/{name}", str(ROOT), config["site_dir"], config["use_directory_urls"]))
    return files
