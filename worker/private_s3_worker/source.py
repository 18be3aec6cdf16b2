"""Fetching exactly the object of the event, as a stream that survives dropped connections."""

from __future__ import annotations

import contextlib
import io
import queue
import threading
from typing import Any
from urllib.parse import unquote_plus

from botocore.exceptions import BotoCoreError, ClientError

from .api import SourceObject
from .config import Config

NOT_FOUND = {"NoSuchKey", "NoSuchVersion", "404", "NotFound"}
CHANGED = {"PreconditionFailed", "412"}
DENIED = {"AccessDenied", "403"}
CHUNK = 1024 * 1024
RESUMES = 5


class Gone(Exception):
    """The object of the event is no longer there in that form (deleted or overwritten)."""


class StreamError(Exception):
    """S3 kept failing while the object was read."""


def key_forms(key: str) -> list[tuple[str, str]]:
    """The key as the event gave it, then URL-decoded if that differs.

    Whether EventBridge URL-encodes ``detail.object.key`` is not settled from a
    primary source (S3's own notifications do, with ``+`` for spaces): trying the
    key as given first is right either way, because an object whose literal name is
    the encoded form is found first.
    """
    forms = [("as-given", key)]
    decoded = unquote_plus(key)
    if decoded != key:
        forms.append(("url-decoded", decoded))
    return forms


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _pin(cfg: Config) -> dict[str, str]:
    pin = {"IfMatch": cfg.etag}
    if cfg.version_id:
        pin["VersionId"] = cfg.version_id
    return pin


def open_source(client: Any, cfg: Config) -> tuple[SourceObject, str]:
    """GET the object pinned to the event's ETag (and version). Returns it and the key
    form that found it; raises :class:`Gone` when no form finds that exact object."""
    outcomes = []
    for form, key in key_forms(cfg.key):
        try:
            response = client.get_object(Bucket=cfg.bucket, Key=key, **_pin(cfg))
        except ClientError as exc:
            code = _code(exc)
            if code in NOT_FOUND or code in CHANGED:
                outcomes.append(f"{form}: {code}")
                continue
            if code in DENIED and not key_listed(client, cfg.bucket, key):
                # Without s3:ListBucket on the key, S3 answers 403 for a missing object.
                outcomes.append(f"{form}: not listed")
                continue
            raise
        body = ResumableBody(client, cfg.bucket, key, _pin(cfg), response)
        source = SourceObject(
            bucket=cfg.bucket,
            key=key,
            size=int(response.get("ContentLength", 0)),
            etag=str(response.get("ETag", cfg.etag)),
            version_id=response.get("VersionId") or cfg.version_id,
            content_type=str(response.get("ContentType", "")),
            metadata=dict(response.get("Metadata", {})),
            body=Prefetch(body),
        )
        return source, form
    changed = any(o.endswith(tuple(CHANGED)) for o in outcomes)
    raise Gone(
        (
            "overwritten since the event (ETag no longer matches)"
            if changed
            else "not found (deleted since the event)"
        )
        + f" [{'; '.join(outcomes)}]"
    )


def key_listed(client: Any, bucket: str, key: str) -> bool:
    """Whether ``key`` exists, by listing: the task role may list its prefixes, which
    tells "missing" from "denied", and "already done" in the output prefix, which it may
    not read."""
    answer = client.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
    return any(item.get("Key") == key for item in answer.get("Contents", []))


class ResumableBody(io.RawIOBase):
    """The object's bytes. A connection that drops mid-object is resumed with a ranged
    GET from the last byte received, still pinned to the same ETag, so the stream the
    processor reads is exactly the object or an error, never a silent truncation."""

    def __init__(
        self, client: Any, bucket: str, key: str, pin: dict[str, str], response: dict[str, Any]
    ) -> None:
        super().__init__()
        self._client = client
        self._bucket = bucket
        self._key = key
        self._pin = pin
        self._stream = response["Body"]
        self._length = int(response.get("ContentLength", 0))
        self._offset = 0
        self.resumes = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes, as the network delivered them (no copy)."""
        if size is None or size < 0:
            size = max(self._length - self._offset, 0)
        while True:
            if self._offset >= self._length or size == 0:
                return b""
            try:
                data: bytes = self._stream.read(size)
            except (BotoCoreError, OSError, ValueError) as exc:
                self._resume(exc)
                continue
            if not data:
                self._resume(EOFError(f"stream ended at byte {self._offset} of {self._length}"))
                continue
            self._offset += len(data)
            return data

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def _resume(self, cause: BaseException) -> None:
        self.resumes += 1
        if self.resumes > RESUMES:
            raise StreamError(
                f"reading the object failed {self.resumes} times; last: "
                f"{type(cause).__name__}: {cause}"
            ) from cause
        with contextlib.suppress(Exception):  # the broken stream may refuse to close
            self._stream.close()
        try:
            response = self._client.get_object(
                Bucket=self._bucket, Key=self._key, Range=f"bytes={self._offset}-", **self._pin
            )
        except ClientError as exc:
            if _code(exc) in CHANGED or _code(exc) in NOT_FOUND:
                raise Gone(f"changed while being read ({_code(exc)})") from exc
            raise
        self._stream = response["Body"]


class Prefetch(io.RawIOBase):
    """Reads ahead in a thread, up to DEPTH chunks, so receiving from the network and
    the processor's work (hashing releases the GIL) overlap on separate cores. Memory
    stays bounded by DEPTH chunks."""

    DEPTH = 2

    def __init__(self, raw: ResumableBody) -> None:
        super().__init__()
        self._raw = raw
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(self.DEPTH)
        self._stop = threading.Event()
        self._pending = memoryview(b"")
        self._done = False
        self._thread = threading.Thread(target=self._fill, name="s3-prefetch", daemon=True)
        self._thread.start()

    def _fill(self) -> None:
        try:
            while not self._stop.is_set():
                data = self._raw.read(CHUNK)
                self._put(data or b"")
                if not data:
                    return
        except BaseException as exc:  # handed to the reader, who raises it
            self._put(exc)

    def _put(self, item: bytes | BaseException) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(CHUNK), b""))
        if not self._pending and not self._done:
            item = self._queue.get()
            if isinstance(item, BaseException):
                self._done = True
                raise item
            if not item:
                self._done = True
            self._pending = memoryview(item)
        pending = self._pending
        if (
            len(pending) <= size
            and isinstance(pending.obj, bytes)
            and len(pending) == len(pending.obj)
        ):
            self._pending = memoryview(b"")
            return pending.obj  # the whole chunk: no copy
        data = pending[:size].tobytes()
        self._pending = pending[len(data) :]
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._stop.set()
        super().close()
        self._raw.close()

    @property
    def resumes(self) -> int:
        return self._raw.resumes
