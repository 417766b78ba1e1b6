"""Which store a hub opens: the ``store`` setting (``lz hub serve --store URL``), else its
``files_dir``; the S3 backend (and boto3) is imported only when the URL names one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lz.hub.server.storage.base import Store
from lz.hub.server.storage.local import LocalStore
from lz.hub.server.storage.location import S3Location, parse_store

__all__ = ["S3Location", "open_store", "open_store_url", "parse_store"]


def open_store(config: Any) -> Store:
    """The store ``config`` (``HubConfig``) names: ``store``, else its ``files_dir``."""
    return open_store_url(config.store, config.files_dir, config.store_credentials,
                          config.presign_s if config.presign else None)


def open_store_url(url: str | None, files_dir: Path, credentials: Path | None = None,
                   presign_s: int | None = None) -> Store:
    """``url``'s store (None: the folder ``files_dir``); S3's local scratch is ``files_dir/scratch``."""
    where = parse_store(url) if url else files_dir
    if isinstance(where, Path):
        return LocalStore(where)
    from lz.hub.server.storage.s3 import S3Store

    return S3Store(where, scratch=files_dir / "scratch", credentials=credentials, presign_s=presign_s)
