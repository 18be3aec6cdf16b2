"""INTEGRITY: what the manifest vouches for about the bytes the processor was given.

- ``sha256`` (the default): the worker's SHA-256 of every byte, as it streams in.
- ``s3``: S3's stored full-object checksum. The GET asks for it (``ChecksumMode=ENABLED``;
  "To retrieve the checksum, this mode must be enabled", S3 API Reference, GetObject) and
  botocore wraps the body in its ``StreamingChecksumBody``, whose checksum object counts
  the first response's bytes; bytes of a resumed (ranged) response carry no object
  checksum, so the worker feeds them to that same object; at the last byte the worker
  compares it with S3's value. A mismatch fails the run. When S3 has no checksum this
  SDK can verify over the object's bytes, the worker computes SHA-256 instead and the
  record says so and why: it never claims a check it did not make.
- ``none``: no digest.

The SDK checks by itself only when a body is read past its last byte (botocore
``httpchecksum.StreamingChecksumBody.read``: "not chunk and amt > 0"); the worker stops
at Content-Length, so without this comparison nothing would be verified at all.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import threading
from collections.abc import Mapping
from typing import Any, Protocol

from botocore.compat import HAS_CRT
from botocore.httpchecksum import (
    Crc32Checksum,
    CrtCrc32cChecksum,
    CrtCrc32Checksum,
    CrtCrc64NvmeChecksum,
    CrtXxhash3Checksum,
    CrtXxhash64Checksum,
    CrtXxhash128Checksum,
    Sha1Checksum,
    Sha256Checksum,
    Sha512Checksum,
    StreamingChecksumBody,
)

# GetObject's response algorithms (botocore's S3 model, httpChecksum.responseAlgorithms),
# in botocore's order of preference (httpchecksum._ALGORITHMS_PRIORITY_LIST): the one the
# SDK wraps the body for when a response carried several. S3 returns the one it stores.
STORED = (
    "XXHASH128",
    "XXHASH3",
    "CRC64NVME",
    "XXHASH64",
    "CRC32C",
    "CRC32",
    "SHA1",
    "SHA256",
    "SHA512",
    "MD5",
)
# botocore computes these only with awscrt installed (httpchecksum._CRT_CHECKSUM_ALGORITHMS);
# without it, it skips the check with a debug log line, silently. CRC64NVME is what S3
# stores for an upload that sent no checksum (S3 API Reference, Checksum: "or if the
# object was uploaded without a checksum (and Amazon S3 added the default checksum,
# CRC64NVME ...)"), so the image installs awscrt (worker/requirements.txt).
NEEDS_CRT = frozenset({"CRC32C", "CRC64NVME", "XXHASH64", "XXHASH3", "XXHASH128"})
# The checksum classes botocore wraps a body with, per algorithm (httpchecksum._CHECKSUM_CLS;
# the Crt* ones when awscrt is installed): how the worker confirms which of the checksums
# a response carried the SDK is computing. MD5 is absent: botocore never verifies it.
SDK_CLASSES: dict[str, tuple[type, ...]] = {
    "XXHASH128": (CrtXxhash128Checksum,),
    "XXHASH3": (CrtXxhash3Checksum,),
    "CRC64NVME": (CrtCrc64NvmeChecksum,),
    "XXHASH64": (CrtXxhash64Checksum,),
    "CRC32C": (CrtCrc32cChecksum,),
    "CRC32": (Crc32Checksum, CrtCrc32Checksum),
    "SHA1": (Sha1Checksum,),
    "SHA256": (Sha256Checksum,),
    "SHA512": (Sha512Checksum,),
}
# A multipart upload's composite checksum: the base64 checksum of its parts' checksums,
# then "-" and the number of parts (botocore, httpchecksum.handle_checksum_body: "S3
# returns checksums that include a -# suffix to indicate a checksum derived from the hash
# of all part checksums"; S3 API Reference, Checksum: "may not be a direct checksum value
# of the full object"). botocore skips every value holding "-", composite or not.
COMPOSITE = re.compile(r"[A-Za-z0-9+/]+=*-[0-9]+")


class IntegrityError(Exception):
    """The bytes read are not the bytes S3 stored: the run fails and publishes nothing."""


class Checksum(Protocol):
    def update(self, chunk: bytes) -> None: ...

    def digest(self) -> bytes: ...


class Integrity:
    """Fed every byte of the object once, in order; finished at the last byte.

    Two threads see the end: the read-ahead, which feeds and finishes the check
    (``finish``), and the processor's reader, which tells when the processor has taken
    the last byte (``read_to_end``). The record vouches only for an object the processor
    read to its end, so it does not depend on how far the read-ahead got.

    Processors may read ``method`` and, once the body has been read to its end,
    ``checksum`` (hex for ``sha256``; base64, as S3 stores it, for ``s3``)."""

    def __init__(
        self,
        method: str,
        *,
        algorithm: str | None = None,
        checksum: Checksum | None = None,
        expected: str | None = None,
        sdk_body: object = None,
        requested: str | None = None,
        reason: str | None = None,
    ) -> None:
        self.method = method
        self.algorithm = algorithm
        self.requested = requested
        self.reason = reason
        self.checksum: str | None = None
        self._running = checksum
        self._expected = expected
        self._sdk_body = sdk_body
        self._lock = threading.Lock()
        self._complete = False
        self._read = False
        self._sealed = False
        self._mismatch: str | None = None

    @classmethod
    def sha256(cls, requested: str | None = None, reason: str | None = None) -> Integrity:
        return cls(
            "sha256",
            algorithm="SHA256",
            checksum=hashlib.sha256(),
            requested=requested,
            reason=reason,
        )

    def counts(self, body: object) -> bool:
        """Whether reading ``body`` already feeds the checksum (the SDK's wrapped body)."""
        return body is not None and body is self._sdk_body

    def update(self, chunk: bytes) -> None:
        if self._running is not None:
            self._running.update(chunk)

    def read_to_end(self) -> None:
        """The processor has taken the last byte (or the end of an empty object)."""
        with self._lock:
            self._read = True

    @property
    def mismatch(self) -> str | None:
        """Why the check failed, once it has: also when the processor caught the error."""
        with self._lock:
            return self._mismatch

    def finish(self) -> None:
        """At the last byte: the final value; for ``s3``, compared with S3's."""
        with self._lock:
            if self._complete or self._sealed:
                return
            self._complete = True
            if self._running is None:
                return
            digest = self._running.digest()
            if self.method == "sha256":
                self.checksum = digest.hex()
                return
            self.checksum = base64.b64encode(digest).decode("ascii")
            if _decoded(self._expected) != digest:
                self._mismatch = (
                    f"S3 stores {self.algorithm} {self._expected} for this object; the "
                    f"bytes read give {self.checksum}"
                )
                self.checksum = None
        if self._mismatch:
            raise IntegrityError(self._mismatch)

    def record(self) -> dict[str, Any]:
        """The manifest's ``integrity``, once the processor has returned. Raises
        :class:`IntegrityError` if the check failed (even if the processor caught it)."""
        with self._lock:
            self._sealed = True  # a read-ahead finishing later cannot change it now
            if self._mismatch:
                raise IntegrityError(self._mismatch)
            if self.method == "none":
                return {"method": "none"}
            # Both, not either: a read-ahead that reached the end while the processor
            # stopped early must not change the record (README, "Integrity").
            if not (self._complete and self._read):
                return {
                    "method": "none",
                    "requested": self.requested or self.method,
                    "reason": "the processor returned before the object was read to its "
                    "end: there is nothing to vouch for",
                }
            record: dict[str, Any] = {
                "method": self.method,
                "algorithm": self.algorithm,
                "checksum": self.checksum,
            }
            if self.requested:
                record.update(requested=self.requested, reason=self.reason)
            return record


def _decoded(value: str | None) -> bytes | None:
    """S3's base64 checksum as bytes; None when it is not base64 (never a match)."""
    try:
        return base64.b64decode(value or "", validate=True) if value else None
    except binascii.Error:
        return None


def for_response(mode: str, response: Mapping[str, Any]) -> Integrity:
    """The check for one GET's response, as ``INTEGRITY`` asks. Raises
    :class:`IntegrityError` when S3 returned a value that is not a checksum at all."""
    if mode == "none":
        return Integrity("none")
    if mode == "sha256":
        return Integrity.sha256()
    found = [(a, str(v)) for a in STORED if (v := response.get(f"Checksum{a}")) is not None]
    for algorithm, value in found:
        if not COMPOSITE.fullmatch(value) and _decoded(value) is None:
            # Neither a checksum nor a composite one: nothing can be compared with it, and
            # a response carrying it is not one to vouch for.
            shown = repr(value)  # control characters escaped, one line whatever it holds
            raise IntegrityError(
                f"S3 returned a {algorithm} checksum that is neither base64 nor a multipart "
                f"composite (base64-N): {shown if len(shown) <= 80 else shown[:77] + '...'}"
            )
    composite = response.get("ChecksumType") == "COMPOSITE"
    full = [(a, v) for a, v in found if not composite and not COMPOSITE.fullmatch(v)]
    # What botocore wraps the body for: the first, in its order, that it can compute
    # (httpchecksum.handle_checksum_body skips values holding "-", and the CRT algorithms
    # without awscrt). The SDK's checksum object confirms it.
    usable = [(a, v) for a, v in full if a in SDK_CLASSES and (HAS_CRT or a not in NEEDS_CRT)]
    body = response.get("Body")
    if usable and isinstance(body, StreamingChecksumBody):
        algorithm, value = usable[0]
        if isinstance(body.checksum, SDK_CLASSES[algorithm]):
            return Integrity(
                "s3", algorithm=algorithm, checksum=body.checksum, expected=value, sdk_body=body
            )
    return Integrity.sha256("s3", _unverifiable(found, full, usable, body))


def _unverifiable(
    found: list[tuple[str, str]],
    full: list[tuple[str, str]],
    usable: list[tuple[str, str]],
    body: object,
) -> str:
    """Why the SDK checks none of the checksums S3 returned (the fallback's ``reason``)."""
    if not found:
        # AWS stores CRC64NVME for every upload since its default data-integrity
        # protections; an older object, or an emulator, may have none.
        return "S3 returned no stored checksum for this object"
    if not full:
        algorithm, value = found[0]
        # No checksum of the bytes read reproduces a checksum of the parts' checksums.
        return (
            f"S3 stores a composite {algorithm} checksum ({value}), a checksum of the "
            "parts' checksums, not of the object's bytes"
        )
    algorithm = (usable or full)[0][0]
    if not usable and algorithm in NEEDS_CRT and not HAS_CRT:
        why = "botocore verifies it only with awscrt, which is not installed"
    elif usable and isinstance(body, StreamingChecksumBody):
        why = "this botocore verifies another of the checksums S3 returned"
    else:
        why = "this botocore does not verify it"
    return f"S3 stores a {algorithm} checksum; {why}"
