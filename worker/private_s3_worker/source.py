"""Fetching exactly the object of the event, as a stream that survives dropped connections."""

from __future__ import annotations

import contextlib
import io
import queue
import threading
from typing import Any
from urllib.parse import unquote_plus

from botocore.exceptions import BotoCoreError, ClientError, FlexibleChecksumError

from .api import SourceObject
from .config import Config
from .integrity import Integrity, IntegrityError, for_response

NOT_FOUND = {"NoSuchKey", "NoSuchVersion", "404", "NotFound"}
CHANGED = {"PreconditionFailed", "412"}
DENIED = {"AccessDenied", "403"}
CHUNK = 1024 * 1024
RESUMES = 5


class Gone(Exception):
    """The object of the event is no longer there in that form (deleted or overwritten)."""


class UnknownKey(Exception):
    """No version and no delete marker of the event's key exists in the bucket: the key
    never existed there (EventBridge changed it in transit; README, "Keys")."""


class StreamError(Exception):
    """S3 kept failing while the object was read, or refused what the worker must ask
    to decide what happened to it."""


def key_forms(key: str) -> list[tuple[str, str]]:
    """The key as the event gave it, then URL-decoded if that differs.

    S3's events to EventBridge carry ``detail.object.key`` raw, not URL-encoded (SPEC
    section 4): moto sends ``key.name`` as is to EventBridge and ``quote_plus(key.name)``
    only in notifications to SQS/SNS/Lambda (moto ``s3/notifications.py``; getmoto/moto
    PR 9060); a fix proposed to AWS's media-lake guidance drops its decoding of
    EventBridge keys, which broke keys holding ``+``, tested with ``test+b.png`` and
    ``%2B%20%%%.png`` (aws-solutions-library-samples/guidance-for-medialake-on-aws PR
    21); and a captured S3 event from EventBridge shows ``:`` unencoded in its key
    (gist.github.com/vincentclaes/7a5eb53acc05b316c86769fed25d4e1a), where S3's
    notifications write ``%3A``. So the key as given is the key. The URL-decoded form is
    a fallback for events routed from other sources, such as S3 notifications relayed by
    hand, whose keys are URL-encoded (``+`` for spaces); it is tried second, so an object
    whose literal name looks encoded is found first.
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
    form that found it; raises :class:`Gone` when no form finds that exact object but the
    key has a history in the bucket, :class:`UnknownKey` when it has none."""
    outcomes = []
    missing = []  # forms S3 answered "no such key/version" for
    # Only INTEGRITY=s3 asks for S3's stored checksum (the client does not by default:
    # run.s3_client).
    checksum = {"ChecksumMode": "ENABLED"} if cfg.integrity == "s3" else {}
    for form, key in key_forms(cfg.key):
        try:
            response = client.get_object(Bucket=cfg.bucket, Key=key, **_pin(cfg), **checksum)
        except ClientError as exc:
            code = _code(exc)
            if code in NOT_FOUND or code in CHANGED:
                outcomes.append(f"{form}: {code}")
                if code in NOT_FOUND:
                    missing.append(key)
                continue
            if code in DENIED and not key_listed(client, cfg.bucket, key):
                # Without s3:ListBucket on the key, S3 answers 403 for a missing object.
                outcomes.append(f"{form}: not listed")
                missing.append(key)
                continue
            raise
        try:
            integrity = for_response(cfg.integrity, response)
        except IntegrityError:
            response["Body"].close()
            raise
        body = ResumableBody(client, cfg.bucket, key, _pin(cfg), response, integrity)
        source = SourceObject(
            bucket=cfg.bucket,
            key=key,
            size=int(response.get("ContentLength", 0)),
            etag=str(response.get("ETag", cfg.etag)),
            version_id=response.get("VersionId") or cfg.version_id,
            content_type=str(response.get("ContentType", "")),
            metadata=dict(response.get("Metadata", {})),
            body=Prefetch(body),
            integrity=integrity,
        )
        return source, form
    tried = f" [{'; '.join(outcomes)}]"
    if any(o.endswith(tuple(CHANGED)) for o in outcomes):
        # 412: the key holds another object now (If-Match), so it exists.
        raise Gone("overwritten since the event (ETag no longer matches)" + tried)
    if never_existed(client, cfg.bucket, missing):
        raise UnknownKey(
            "no version and no delete marker of this key exists in the bucket"
            + tried
            + ": the key never existed there; EventBridge changed it in transit (Direct "
            "delivery of a key holding a backslash); `private-s3-processor redrive` "
            "recovers the true key from the version ID"
        )
    raise Gone("not found (deleted since the event)" + tried)


def never_existed(client: Any, bucket: str, keys: list[str]) -> bool:
    """Whether none of ``keys`` has any version or delete marker in ``bucket``.

    A refused listing raises :class:`StreamError` (exit FAILED, dead-lettered): without
    it a key changed in transit cannot be told from a deleted object, and counting it
    done (GONE) could lose the upload silently.

    Versioning is always on, so a deleted key keeps its delete marker and an overwritten
    one its other versions: a key with neither never existed in the bucket. One
    ListObjectVersions per key, ``Prefix=key``, ``MaxKeys=1``: S3 lists versions and
    delete markers together, "ordered first by key and then by version", keys "sorted
    lexicographically" (AWS SDK for Java reference, ListVersionsRequest; the AWS SDK for
    .NET reference, ListVersions, says the same). A key sorts before every longer key it
    starts, so if it has any version or marker the first entry listed is one of them; a
    longer key (``a.csv`` for ``a``) comes first only when the key itself has none.
    botocore asks for ``encoding-type=url`` and decodes the keys, so a key holding
    control characters compares exactly.
    """
    for key in keys:
        try:
            answer = client.list_object_versions(Bucket=bucket, Prefix=key, MaxKeys=1)
        except ClientError as exc:
            if _code(exc) not in DENIED:
                raise
            raise StreamError(
                f"the object is not found and listing its key's versions was refused "
                f"({_code(exc)}; the task role needs s3:ListBucketVersions), so a key "
                "changed in transit cannot be told from a deleted object"
            ) from exc
        entries = [*answer.get("Versions", []), *answer.get("DeleteMarkers", [])]
        if any(entry.get("Key") == key for entry in entries):
            return False
    return True


def key_listed(client: Any, bucket: str, key: str) -> bool:
    """Whether ``key`` exists, by listing: the task role may list its prefixes, which
    tells "missing" from "denied", and "already done" in the output prefix, which it may
    not read."""
    answer = client.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
    return any(item.get("Key") == key for item in answer.get("Contents", []))


class ResumableBody(io.RawIOBase):
    """The object's bytes. A connection that drops mid-object is resumed with a ranged
    GET from the last byte received, still pinned to the same ETag, so the stream the
    processor reads is exactly the object or an error, never a silent truncation.

    Every byte goes through ``integrity`` once, whichever response brought it: the SDK's
    checksummed first body counts its own (``Integrity.counts``), a ranged one carries no
    object checksum, so its bytes are fed here; at the last byte the check is finished."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        key: str,
        pin: dict[str, str],
        response: dict[str, Any],
        integrity: Integrity,
    ) -> None:
        super().__init__()
        self._client = client
        self._bucket = bucket
        self._key = key
        self._pin = pin
        self._stream = response["Body"]
        self.length = int(response.get("ContentLength", 0))
        self._offset = 0
        self.integrity = integrity
        self._counted = integrity.counts(self._stream)
        self.resumes = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes, as the network delivered them (no copy)."""
        if size is None or size < 0:
            size = max(self.length - self._offset, 0)
        while True:
            if self._offset >= self.length:
                self.integrity.finish()  # an empty object ends before any byte
                return b""
            if size == 0:
                return b""
            try:
                data: bytes = self._stream.read(size)
            except FlexibleChecksumError as exc:  # the SDK's own check: not a dropped line
                raise IntegrityError(str(exc)) from exc
            except (BotoCoreError, OSError, ValueError) as exc:
                self._resume(exc)
                continue
            if not data:
                self._resume(EOFError(f"stream ended at byte {self._offset} of {self.length}"))
                continue
            if not self._counted:
                self.integrity.update(data)
            self._offset += len(data)
            if self._offset >= self.length:
                self.integrity.finish()  # raises IntegrityError on a mismatch
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
        self._counted = False  # a ranged body: its bytes are fed by ``read``


class Prefetch(io.RawIOBase):
    """Reads ahead in a thread, up to DEPTH chunks, so receiving from the network and
    the processor's work (hashing releases the GIL) overlap on separate cores. Memory
    stays bounded by DEPTH chunks.

    ``delivered`` counts the bytes handed to the reader; when it has them all, the
    integrity check is told (``Integrity.read_to_end``): what the record vouches for
    follows the processor's reads, not the read-ahead's."""

    DEPTH = 2

    def __init__(self, raw: ResumableBody) -> None:
        super().__init__()
        self._raw = raw
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(self.DEPTH)
        self._stop = threading.Event()
        self._pending = memoryview(b"")
        self._done = False
        self.delivered = 0
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
        data = self._next(size)
        self.delivered += len(data)
        if self.delivered >= self._raw.length:
            self._raw.integrity.read_to_end()
        return data

    def _next(self, size: int) -> bytes:
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

    @property
    def integrity(self) -> Integrity:
        return self._raw.integrity

    @property
    def length(self) -> int:
        return self._raw.length
