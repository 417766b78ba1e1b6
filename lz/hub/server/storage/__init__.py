"""Where the hub keeps bundles, results, live logs and uploads being received: ``Store`` (the
interface), ``LocalStore`` (a folder beside the database, the default) and ``S3Store``
(S3-compatible object storage, ``lz.hub.server.storage.s3``; boto3 is imported there only).
``open_store`` picks one from the ``store`` setting (``--store URL``)."""

from lz.hub.server.storage.base import Received, Store
from lz.hub.server.storage.local import LocalStore

Files = LocalStore  # the name callers (and tests) used for the local folder before there were backends

__all__ = ["Files", "LocalStore", "Received", "Store"]
