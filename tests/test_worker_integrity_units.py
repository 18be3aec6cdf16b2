"""INTEGRITY without a network: the setting as the task gives it (good and hostile
values, both modes), and the check itself on bodies built in memory: a match, a
mismatch a processor hides, a value that is not a checksum, a record taken before the
last byte, and every case where S3 has no checksum the SDK can verify; which of several
checksums is compared; and when the default processor may reuse the worker's SHA-256
(tests/test_worker_integrity.py runs the worker against the emulator)."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import hashlib
import io
import json
import zlib
from typing import Any

import pytest
from botocore.httpchecksum import Crc32Checksum, StreamingChecksumBody
from botocore.response import StreamingBody
from private_s3_worker import Outputs, SourceObject
from private_s3_worker import integrity as integrity_module
from private_s3_worker import manifest as manifest_module
from private_s3_worker.config import ConfigError, from_environment, integrity_mode
from private_s3_worker.event import from_event
from private_s3_worker.integrity import Integrity, IntegrityError, for_response
from private_s3_worker.queue_settings import from_environment as queue_settings
from private_s3_worker.source import Prefetch, ResumableBody

from tests.conftest import BUCKET
from tests.test_worker import GOOD

# --- INTEGRITY as configuration ---------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "mode"),
    [("", "sha256"), ("sha256", "sha256"), ("S3", "s3"), (" none ", "none"), ("s3\n", "s3")],
)
def test_integrity_values(raw: str, mode: str) -> None:
    assert integrity_mode({"INTEGRITY": raw}) == mode
    assert integrity_mode({}) == "sha256"


@pytest.mark.parametrize(
    "raw",
    ["md5", "sha-256", "crc64nvme", "s3 none", "s3,none", "\x00", "\uff53\uff13", "x" * 100_000],
)
def test_hostile_integrity_values_are_one_line_errors(raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        integrity_mode({"INTEGRITY": raw})
    message = str(caught.value)
    assert message.startswith("INTEGRITY must be one of sha256, s3, none (got ")
    assert "\n" not in message and len(message) < 200


def test_both_modes_read_integrity_from_the_task_environment() -> None:
    assert from_environment({**GOOD, "INTEGRITY": "s3"}).integrity == "s3"
    assert from_environment(GOOD).integrity == "sha256"
    body = json.dumps(
        {
            "detail-type": "Object Created",
            "detail": {
                "bucket": {"name": BUCKET},
                "object": {"key": "k", "size": 1, "etag": "9a0364b9e99bb480dd25e1f0284c8555"},
            },
        }
    )
    assert from_event(body, {"INTEGRITY": "none"}).integrity == "none"
    with pytest.raises(ConfigError, match="INTEGRITY must be"):
        from_event(body, {"INTEGRITY": "maybe"})
    with pytest.raises(ConfigError, match="INTEGRITY must be"):
        queue_settings({"QUEUE_URL": "http://localhost:9/q", "INTEGRITY": "maybe"})


# --- the check itself, without a network ------------------------------------------------


def _checksummed(data: bytes, expected: bytes) -> StreamingChecksumBody:
    """A body as botocore wraps it for a response carrying x-amz-checksum-crc32."""
    return StreamingChecksumBody(
        io.BytesIO(data), len(data), Crc32Checksum(), base64.b64encode(expected).decode()
    )


def _crc32(data: bytes) -> bytes:
    return zlib.crc32(data).to_bytes(4, "big")


def test_s3_mode_takes_the_sdks_checksum_and_compares_at_the_last_byte() -> None:
    data = b"hello world"
    body = _checksummed(data, _crc32(data))
    value = base64.b64encode(_crc32(data)).decode()
    check = for_response("s3", {"Body": body, "ChecksumCRC32": value})
    assert check.method == "s3" and check.counts(body)
    body.read(5)
    body.read(100)
    check.finish()
    check.read_to_end()  # what the processor's reader says at its last byte
    assert check.record() == {"method": "s3", "algorithm": "CRC32", "checksum": value}


def test_a_mismatch_raises_and_stays_raised_even_when_the_processor_hid_it() -> None:
    body = _checksummed(b"hellO world", _crc32(b"hello world"))
    check = for_response(
        "s3", {"Body": body, "ChecksumCRC32": base64.b64encode(_crc32(b"hello world")).decode()}
    )
    body.read(100)
    with pytest.raises(IntegrityError, match="S3 stores CRC32"):
        check.finish()
    check.finish()  # a later read at the end does not raise again...
    with pytest.raises(IntegrityError):
        check.record()  # ...but the run cannot publish


@pytest.mark.parametrize("stored", ["not base64!", "AAAA====", ""])
def test_a_stored_value_that_is_not_a_checksum_is_a_mismatch(stored: str) -> None:
    check = Integrity("s3", algorithm="CRC32", checksum=Crc32Checksum(), expected=stored)
    check.update(b"data")
    with pytest.raises(IntegrityError, match="S3 stores CRC32"):
        check.finish()


def test_a_record_before_the_last_byte_vouches_for_nothing() -> None:
    check = Integrity.sha256()
    check.update(b"part of it")
    assert check.record() == {
        "method": "none",
        "requested": "sha256",
        "reason": "the processor returned before the object was read to its end: there is "
        "nothing to vouch for",
    }
    check.finish()  # a read-ahead that ends after the record changes nothing
    assert check.record()["method"] == "none"


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        ({}, "S3 returned no stored checksum for this object"),
        (
            {"ChecksumCRC32": "9286hw==-2", "ChecksumType": "COMPOSITE"},
            "S3 stores a composite CRC32 checksum (9286hw==-2)",
        ),
        ({"ChecksumSHA256": "abc=-3"}, "S3 stores a composite SHA256 checksum"),
        (
            {"ChecksumMD5": "XUFAKrxLKna5cZ2REBfFkg=="},
            "S3 stores a MD5 checksum; this botocore does not verify it",
        ),
    ],
)
def test_without_a_verifiable_full_object_checksum_s3_falls_back_to_sha256(
    response: dict[str, Any], reason: str
) -> None:
    plain = StreamingBody(io.BytesIO(b"x"), 1)
    check = for_response("s3", {"Body": plain, **response})
    assert (check.method, check.requested) == ("sha256", "s3")
    assert check.reason is not None and check.reason.startswith(reason)
    assert not check.counts(plain)


def test_a_checksum_the_sdk_cannot_compute_without_awscrt_is_not_claimed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """botocore without awscrt skips CRC64NVME silently (the body comes back unwrapped)."""
    monkeypatch.setattr(integrity_module, "HAS_CRT", False)
    plain = StreamingBody(io.BytesIO(b"x"), 1)
    check = for_response("s3", {"Body": plain, "ChecksumCRC64NVME": "AAAAAAAAAAA="})
    assert check.method == "sha256"
    assert check.reason == (
        "S3 stores a CRC64NVME checksum; botocore verifies it only with awscrt, which is "
        "not installed"
    )


# --- which of several checksums, and values that are not checksums ----------------------


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def test_with_two_checksums_the_one_botocore_wrapped_is_compared(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without awscrt botocore skips CRC64NVME and wraps the body for CRC32: the worker
    compares the CRC32 too, not the first in its own list."""
    monkeypatch.setattr(integrity_module, "HAS_CRT", False)
    data = b"hello world"
    body = _checksummed(data, _crc32(data))
    crc32 = _b64(_crc32(data))
    check = for_response(
        "s3", {"Body": body, "ChecksumCRC64NVME": "AAAAAAAAAAE=", "ChecksumCRC32": crc32}
    )
    assert (check.method, check.algorithm) == ("s3", "CRC32") and check.counts(body)
    body.read(100)
    check.finish()
    check.read_to_end()
    assert check.record() == {"method": "s3", "algorithm": "CRC32", "checksum": crc32}


def test_a_composite_checksum_beside_a_full_one_is_skipped_as_botocore_skips_it() -> None:
    data = b"hello world"
    body = _checksummed(data, _crc32(data))
    crc32 = _b64(_crc32(data))
    check = for_response(
        "s3", {"Body": body, "ChecksumCRC64NVME": "aBRIhRI8Md4=-3", "ChecksumCRC32": crc32}
    )
    assert (check.method, check.algorithm) == ("s3", "CRC32")


def test_an_sdk_checksum_of_another_algorithm_is_never_claimed() -> None:
    """A botocore that computes CRC32 where the worker expected CRC64NVME (an awscrt too
    old for it): no comparison of a CRC32 with a CRC64NVME, and no claim."""
    data = b"hello world"
    body = _checksummed(data, _crc32(data))
    check = for_response(
        "s3", {"Body": body, "ChecksumCRC64NVME": "AAAAAAAAAAE=", "ChecksumCRC32": "AAAAAA=="}
    )
    assert (check.method, check.requested) == ("sha256", "s3")
    assert check.reason == (
        "S3 stores a CRC64NVME checksum; this botocore verifies another of the checksums S3 "
        "returned"
    )
    assert not check.counts(body)


@pytest.mark.parametrize(
    "stored",
    ["!!not-b64", "%%%%%%%%", "", "abc-", "-3", "abc=-x", "abc=-3-4", "YQ==\n-2", "\x00" * 5000],
)
def test_a_value_that_is_not_a_checksum_fails_before_any_byte_is_read(stored: str) -> None:
    plain = StreamingBody(io.BytesIO(b"x"), 1)
    with pytest.raises(IntegrityError) as caught:
        for_response("s3", {"Body": plain, "ChecksumCRC64NVME": stored})
    message = str(caught.value)
    assert message.startswith(
        "S3 returned a CRC64NVME checksum that is neither base64 nor a multipart composite"
    )
    assert "\n" not in message and len(message) < 250


@pytest.mark.parametrize("stored", ["aBRIhRI8Md4=-3", "9286hw==-2", "AAAAAAAAAAA=-10000"])
def test_only_base64_dash_a_part_count_is_composite(stored: str) -> None:
    check = for_response(
        "s3", {"Body": StreamingBody(io.BytesIO(b"x"), 1), "ChecksumCRC32": stored}
    )
    assert check.method == "sha256"
    assert check.reason is not None and check.reason.startswith("S3 stores a composite CRC32")


# --- the record follows the processor's reads -------------------------------------------


def _stream(data: bytes, check: Integrity, body: Any = None) -> Prefetch:
    """The worker's stream over ``data`` (or a prepared SDK body), as open_source makes it."""
    response = {"Body": body or io.BytesIO(data), "ContentLength": len(data)}
    return Prefetch(ResumableBody(None, BUCKET, "in/x", {}, response, check))


def test_a_processor_that_stops_early_gets_no_claim_even_if_the_read_ahead_finished() -> None:
    data = b"x" * 1000
    check = Integrity.sha256()
    body = _stream(data, check)
    assert body.read(10) == b"x" * 10
    # One read brought the whole object: the read-ahead finished the digest before the
    # processor got its first byte, yet the processor read 10 bytes of 1000.
    assert check.checksum == hashlib.sha256(data).hexdigest()
    body.close()
    assert check.record()["method"] == "none"


def test_a_processor_that_takes_every_byte_gets_the_record_without_reading_past_the_end() -> None:
    data = b"y" * 1000
    check = Integrity.sha256()
    body = _stream(data, check)
    assert body.read(len(data)) == data
    body.close()
    assert check.record()["checksum"] == hashlib.sha256(data).hexdigest()


def test_a_mismatch_the_read_ahead_found_fails_a_processor_that_stopped_early() -> None:
    data = b"hellO world"
    sdk = _checksummed(data, _crc32(b"hello world"))
    check = for_response("s3", {"Body": sdk, "ChecksumCRC32": _b64(_crc32(b"hello world"))})
    body = _stream(data, check, sdk)
    with pytest.raises(IntegrityError):
        body.read(2)
    body.close()
    with pytest.raises(IntegrityError):
        check.record()


# --- the default processor's SHA-256 ------------------------------------------------------


NO_OUTPUTS = Outputs(enabled=False)


def _source(data: bytes, mode: str = "sha256") -> SourceObject:
    check = Integrity.sha256() if mode == "sha256" else Integrity(mode)
    return SourceObject(
        bucket=BUCKET,
        key="in/x.bin",
        size=len(data),
        etag='"e"',
        version_id=None,
        content_type="application/octet-stream",
        metadata={},
        body=_stream(data, check),
        integrity=check,
    )


def test_describe_reuses_the_workers_sha256_for_its_own_untouched_stream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = b"a,b\n1,2\n" * 100_000
    source = _source(data)

    def no_second_hash() -> None:
        raise AssertionError("describe hashed the object a second time")

    monkeypatch.setattr(hashlib, "sha256", no_second_hash)
    facts = manifest_module.describe(source, NO_OUTPUTS)
    assert facts["sha256"] == hashlib.new("sha256", data).hexdigest()
    assert facts["size"] == len(data)


def test_describe_after_another_read_hashes_the_bytes_it_read() -> None:
    data = bytes(range(256)) * 10_000
    source = _source(data)
    assert source.body.read(5) == data[:5]
    facts = manifest_module.describe(source, NO_OUTPUTS)
    assert facts["size"] == len(data) - 5
    assert facts["sha256"] == hashlib.sha256(data[5:]).hexdigest()


def test_describe_of_a_wrapped_body_hashes_what_the_wrapper_gives() -> None:
    plain = b"line\n" * 50_000
    source = _source(gzip.compress(plain))
    assert isinstance(source.body, Prefetch)
    unzipped = dataclasses.replace(source, body=gzip.GzipFile(fileobj=source.body))
    facts = manifest_module.describe(unzipped, NO_OUTPUTS)
    assert (facts["size"], facts["lines"]) == (len(plain), 50_000)
    assert facts["sha256"] == hashlib.sha256(plain).hexdigest()


@pytest.mark.parametrize("mode", ["s3", "none"])
def test_describe_in_s3_or_none_mode_has_no_sha256_whatever_the_body(mode: str) -> None:
    source = _source(b"abc", mode)
    assert "sha256" not in manifest_module.describe(source, NO_OUTPUTS)
    wrapped = dataclasses.replace(source, body=io.BytesIO(b"abc"))
    assert "sha256" not in manifest_module.describe(wrapped, NO_OUTPUTS)


def test_describe_refuses_a_digest_when_another_reader_took_bytes_meanwhile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = _source(b"z" * (3 * 1024 * 1024))
    body = source.body
    assert isinstance(body, Prefetch)
    read = body.read

    def shared(size: int = -1) -> bytes:
        read(size)  # another thread's reader takes this chunk
        return read(size)

    monkeypatch.setattr(body, "read", shared)
    with pytest.raises(RuntimeError, match="read by another reader at the same time"):
        manifest_module.describe(source, NO_OUTPUTS)
