"""The OpenAPI document of the hub, as committed in docs/hub-openapi.json (a test checks drift)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path


def document() -> str:
    from lz.hub.server.app import create_app
    from lz.hub.server.config import HubConfig

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(HubConfig(db_url="sqlite://", files_dir=Path(tmp)), migrate=False)
        return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(document(), end="")
