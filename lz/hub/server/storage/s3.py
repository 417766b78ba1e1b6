"""The store in S3-compatible object storage (boto3; imported here only, so ``lz --help`` and a
landing zone never load it). Objects are ``<prefix>/<name>``. Uploads stream in as they arrive:
up to one part (8 MiB) is held, larger uploads become multipart uploads, and a refused or cut-off
one is aborted (the sweep aborts what a killed hub left). Reads are HTTP Range GETs through a
modest buffer, so a results archive is read member by member and never whole. S3 cannot append:
a live log is one object per appended chunk (``<name>/<offset, 20 digits>``), read in order.
Credentials come from the environment or a credentials file, never from the URL."""

from __future__ import annotations

import io
import logging
import os
import threading
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Container, Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

from lz.hub.server.errors import NotFound, TooLarge
from lz.hub.server.storage.base import KEPT, Received, Store, private_folder
from lz.hub.server.storage.location import S3Location

PART = 8 << 20  # a multipart upload's part (S3's least is 5 MiB, but for the last)
READ_BUFFER = 256 << 10
STREAM_CHUNK = 1 << 16
DELETE_BATCH = 1000  # the most DeleteObjects takes
KNOWN_LOGS = 4096  # live logs whose chunks one process remembers (a few hundred bytes per chunk)


class S3Store(Store):
    def __init__(self, where: S3Location, *, scratch: Path, credentials: Path | None = None,
                 presign_s: int | None = None):
        super().__init__()
        try:
            import boto3
            import botocore.config
            import botocore.session
        except ModuleNotFoundError as exc:
            from lz.core.errors import UserError

            raise UserError(f"store {where.describe()}: S3 needs boto3 (no module {exc.name}): "
                            "pip install 'lz[s3]'") from None

        for name in ("boto3", "botocore", "s3transfer", "urllib3"):  # their DEBUG lines carry signed headers
            logging.getLogger(name).setLevel(max(logging.INFO, logging.getLogger(name).getEffectiveLevel()))
        core = botocore.session.Session()
        if credentials is not None:
            core.set_config_variable("credentials_file", str(credentials))
        session = boto3.session.Session(botocore_session=core)
        config = botocore.config.Config(
            region_name=where.region, signature_version="s3v4", max_pool_connections=32,
            retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=10, read_timeout=60,
            s3={"addressing_style": "path" if where.endpoint else "auto"})
        self.client = session.client("s3", endpoint_url=where.endpoint, config=config)
        self.where = where
        self.bucket = where.bucket
        self._scratch = scratch
        self.presign_s = presign_s
        self._known: OrderedDict[str, list[tuple[int, int, str]]] = OrderedDict()  # live logs' chunks seen
        self._known_lock = threading.Lock()

    # -- names and keys ----------------------------------------------------------------------
    def _key(self, name: str) -> str:
        return f"{self.where.prefix}/{name}" if self.where.prefix else name

    def _name(self, key: str) -> str:
        return key[len(self.where.prefix) + 1:] if self.where.prefix else key

    def describe(self) -> str:
        return self.where.describe()

    @property
    def scratch_root(self) -> Path:
        return self._scratch

    def ensure(self) -> None:
        """The bucket answers (with these credentials), and the local scratch folder exists."""
        from botocore.exceptions import BotoCoreError, ClientError

        from lz.core.errors import UserError

        private_folder(self._scratch)
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            raise UserError(f"store {self.describe()}: {_why(exc)}") from None
        except BotoCoreError as exc:
            raise UserError(f"store {self.describe()}: {' '.join(str(exc).split())}") from None

    # -- objects -----------------------------------------------------------------------------
    def _head(self, name: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            return cast(dict[str, Any], self.client.head_object(Bucket=self.bucket, Key=self._key(name)))
        except ClientError as exc:
            if _missing(exc):
                return None
            raise

    def exists(self, name: str) -> bool:
        return self._head(name) is not None

    def size(self, name: str) -> int | None:
        head = self._head(name)
        return None if head is None else int(head["ContentLength"])

    def open(self, name: str) -> BinaryIO:
        """Pinned to the object as it is now (``If-Match`` its ETag): one replaced meanwhile (an
        attempt's results uploaded again) fails the read instead of mixing two objects' bytes,
        as an open file keeps its old inode on the folder."""
        head = self._head(name)
        if head is None:
            raise FileNotFoundError(name)
        return self._reader([(0, int(head["ContentLength"]), self._key(name))], head.get("ETag"))

    def _reader(self, segments: list[tuple[int, int, str]], etag: str | None = None) -> BinaryIO:
        raw = RangeReader(self.client, self.bucket, segments, etag)
        return cast(BinaryIO, io.BufferedReader(raw, READ_BUFFER))

    def _objects(self, prefix_key: str) -> Iterator[dict[str, Any]]:
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix_key):
            yield from page.get("Contents", [])

    def listing(self, top: str) -> Iterator[tuple[str, float]]:
        for found in self._objects(self._key(top) + "/"):
            yield self._name(found["Key"]), found["LastModified"].timestamp()

    def total_size(self) -> int:
        return sum(int(o["Size"]) for o in self._objects(self._key("")))

    def remove(self, name: str | None) -> bool:
        if not name or self._head(name) is None:
            return False
        self.client.delete_object(Bucket=self.bucket, Key=self._key(name))
        return True

    def _delete_keys(self, keys: list[str]) -> None:
        for at in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": k} for k in keys[at:at + DELETE_BATCH]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    def remove_tree(self, prefix: str) -> bool:
        with self._known_lock:
            for name in [n for n in self._known if n.startswith(prefix.rstrip("/") + "/")]:
                del self._known[name]
        keys = [o["Key"] for o in self._objects(self._key(prefix.rstrip("/")) + "/")]
        self._delete_keys(keys)
        return bool(keys)

    # -- uploads -----------------------------------------------------------------------------
    async def _write_upload(self, name: str, chunks: AsyncIterator[bytes], max_bytes: int) -> int:
        """Parts of ``PART`` bytes as they fill (a multipart upload, begun once the first part is
        full), or one PUT for a smaller upload; aborted when refused or cut off."""
        from starlette.concurrency import run_in_threadpool

        key = self._key(name)
        buffer = bytearray()
        size = 0
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []

        def _part(data: bytes | bytearray) -> None:
            done = self.client.upload_part(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                           PartNumber=len(parts) + 1, Body=data)
            parts.append({"PartNumber": len(parts) + 1, "ETag": done["ETag"]})

        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"upload is larger than {max_bytes} bytes")
                buffer += chunk
                if len(buffer) >= PART:
                    if upload_id is None:
                        started = await run_in_threadpool(self.client.create_multipart_upload,
                                                          Bucket=self.bucket, Key=key)
                        upload_id = started["UploadId"]
                    data, buffer = buffer, bytearray()  # handed over, not copied
                    await run_in_threadpool(_part, data)
                    del data
            if upload_id is None:
                await run_in_threadpool(lambda: self.client.put_object(Bucket=self.bucket, Key=key, Body=bytes(buffer)))
            else:
                if buffer:
                    await run_in_threadpool(_part, buffer)
                await run_in_threadpool(lambda: self.client.complete_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}))
        except BaseException:
            if upload_id is not None:  # at once, not awaited: a request being cancelled cancels awaits
                self._abort(key, upload_id)
            raise
        return size

    def _abort(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except Exception:  # the sweep aborts it later  # noqa: BLE001
            logging.getLogger("lz.hub").warning("could not abort an upload to %s; the sweep will", key)

    def put(self, name: str, data: bytes) -> None:
        """One PUT: an object appears whole or not at all."""
        self.client.put_object(Bucket=self.bucket, Key=self._key(name), Body=data)

    def commit(self, received: Received, name: str) -> None:
        """A server-side copy (multipart for a large object, by boto3's managed copy), then the
        received object goes: a crash between leaves only an ``incoming`` object to sweep."""
        self.client.copy({"Bucket": self.bucket, "Key": self._key(received.name)}, self.bucket, self._key(name))
        self.client.delete_object(Bucket=self.bucket, Key=self._key(received.name))
        received.committed = True

    # -- live logs ---------------------------------------------------------------------------
    def _log_segments(self, name: str) -> list[tuple[int, int, str]]:
        """(offset, size, key) of a live log's chunks, in order, up to the first gap. The chunks
        this process has seen are remembered, so each call lists only the newer ones (S3 lists
        in key order, and the keys are zero-padded offsets): a log of many chunks costs one short
        listing per append, not one page per thousand chunks. Chunks are never rewritten (a write
        goes only at the end the store shows), so what was seen stays true."""
        prefix = self._key(name) + "/"
        with self._known_lock:
            known = list(self._known.get(name, ()))
        after = {"StartAfter": known[-1][2]} if known else {}
        newer: list[tuple[int, int, str]] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix,
                                                                          **after):
            for found in page.get("Contents", []):
                tail = found["Key"][len(prefix):]
                if tail.isdigit() and len(tail) == 20:
                    newer.append((int(tail), int(found["Size"]), found["Key"]))
        contiguous = known
        end = known[-1][0] + known[-1][1] if known else 0
        for offset, size, key in sorted(newer):
            if offset != end:
                break
            contiguous.append((offset, size, key))
            end += size
        self._remember(name, contiguous)
        return contiguous

    def _remember(self, name: str, segments: list[tuple[int, int, str]]) -> None:
        with self._known_lock:
            self._known[name] = segments
            self._known.move_to_end(name)
            while len(self._known) > KNOWN_LOGS:
                self._known.popitem(last=False)

    def open_log(self, name: str) -> BinaryIO | None:
        segments = self._log_segments(name)
        return self._reader(segments) if segments else None

    def append_log(self, name: str, offset: int, data: bytes, max_bytes: int) -> int:
        segments = self._log_segments(name)
        size = segments[-1][0] + segments[-1][1] if segments else 0
        if offset != size:
            return size
        if size + len(data) > max_bytes:
            raise TooLarge(f"live log is larger than {max_bytes} bytes; the rest comes with the results")
        if data:
            key = f"{self._key(name)}/{offset:020d}"
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data)
            self._remember(name, [*segments, (offset, len(data), key)])
        return size + len(data)

    # -- sweeps ------------------------------------------------------------------------------
    def sweep(self, needed: Container[str], wall_now: float, grace_s: float) -> Counter[str]:
        removed: Counter[str] = Counter()
        for kind in KEPT:
            old = [name for name, changed in self.listing(kind)
                   if name not in needed and wall_now - changed > grace_s]
            self._delete_keys([self._key(name) for name in old])
            removed[kind] += len(old)
        return removed

    def sweep_incoming(self, wall_now: float, grace_s: float) -> int:
        """Objects in ``incoming/`` and multipart uploads there (a part uploaded counts as a
        change), then the local scratch folders."""
        dead = [name for name, changed in self.listing("incoming")
                if not self.is_live(_token(name)) and wall_now - changed > grace_s]
        self._delete_keys([self._key(name) for name in dead])
        aborted = 0
        pages = self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=self._key("incoming") + "/")
        for page in pages:
            for upload in page.get("Uploads", []):
                if self.is_live(_token(self._name(upload["Key"]))):
                    continue
                changed = upload["Initiated"].timestamp()
                for part_page in self.client.get_paginator("list_parts").paginate(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]):
                    changed = max([changed, *(p["LastModified"].timestamp() for p in part_page.get("Parts", []))])
                if wall_now - changed > grace_s:
                    self._abort(upload["Key"], upload["UploadId"])
                    aborted += 1
        return len(dead) + aborted + self.sweep_scratch(wall_now, grace_s)

    # -- downloads ---------------------------------------------------------------------------
    def response(self, name: str, media_type: str, filename: str | None = None,
                 headers: dict[str, str] | None = None, *, redirect: bool = False) -> Any:
        from botocore.exceptions import ClientError
        from starlette.responses import RedirectResponse, StreamingResponse

        extra = dict(headers or {})
        disposition = f'attachment; filename="{filename}"' if filename else None
        if redirect and self.presign_s is not None:
            if not self.exists(name):
                raise NotFound(f"{name} is not stored")
            params = {"Bucket": self.bucket, "Key": self._key(name), "ResponseContentType": media_type}
            if disposition:
                params["ResponseContentDisposition"] = disposition
            url = self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=self.presign_s)
            return RedirectResponse(url, status_code=307, headers=extra)
        try:
            got = self.client.get_object(Bucket=self.bucket, Key=self._key(name))
        except ClientError as exc:
            if _missing(exc):
                raise NotFound(f"{name} is not stored") from None
            raise
        body = got["Body"]
        extra["Content-Length"] = str(got["ContentLength"])
        if disposition:
            extra["Content-Disposition"] = disposition

        def chunks() -> Iterator[bytes]:
            try:
                yield from body.iter_chunks(STREAM_CHUNK)
            finally:
                body.close()

        return StreamingResponse(chunks(), media_type=media_type, headers=extra)


class RangeReader(io.RawIOBase):
    """Read-only, seekable access to one object (or a live log's chunks, end to end) by HTTP
    Range GETs of what is asked for; wrap it in a BufferedReader of a modest size."""

    def __init__(self, client: Any, bucket: str, segments: list[tuple[int, int, str]], etag: str | None = None):
        self._client, self._bucket, self._segments = client, bucket, segments
        self._pin = {"IfMatch": etag} if etag else {}  # one object: exactly the one opened
        self._size = segments[-1][0] + segments[-1][1] if segments else 0
        self._at = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, where: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._at, os.SEEK_END: self._size}[whence]
        if base + where < 0:
            raise ValueError("negative seek position")
        self._at = base + where
        return self._at

    def tell(self) -> int:
        return self._at

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self._size - self._at)
        if want <= 0:
            return 0
        for offset, size, key in self._segments:
            if offset <= self._at < offset + size:
                start = self._at - offset
                count = min(want, size - start)
                got = self._client.get_object(Bucket=self._bucket, Key=key, Range=f"bytes={start}-{start + count - 1}",
                                              **self._pin)
                data = got["Body"].read(count)
                got["Body"].close()
                view = memoryview(buffer).cast("B")
                view[:len(data)] = data
                self._at += len(data)
                return len(data)
        return 0


def _token(name: str) -> str:
    return name.rsplit("/", 1)[-1].split(".", 1)[0]


def _missing(exc: Any) -> bool:
    return str(exc.response.get("Error", {}).get("Code", "")) in ("404", "NoSuchKey", "NotFound")


def _why(exc: Any) -> str:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    if code in ("404", "NoSuchBucket"):
        return "no such bucket"
    if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
        return "access denied (check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or store_credentials)"
    return f"{code} {error.get('Message', '')}".strip()
