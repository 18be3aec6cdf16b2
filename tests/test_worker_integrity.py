"""INTEGRITY (sha256, s3, none): what each mode records, and that an S3 checksum the
worker claims is one it verified over every byte: through a fault-injecting proxy that
alters bytes, cuts streams, or both; with composite checksums, objects without one, and
a worker whose botocore lacks awscrt (tests/test_worker_integrity_headers.py rewrites
the checksum headers)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from typing import Any

import boto3
from botocore.config import Config
from private_s3_processor_cli.local.emulator import aws_env
from private_s3_worker import ExitCode, Outputs, SourceObject
from private_s3_worker.manifest import describe

from tests.conftest import BUCKET, ROOT, client, put
from tests.faults import Fault, FaultProxy
from tests.test_worker import GOOD, keys_under, manifest, worker

OBJECT_GET = r"^/worker-tests/in/integrity-[^?]*(\?versionId=.*)?$"
MIB = 1024 * 1024


# --- processors this module's runs load by name -----------------------------------------


def head_only(source: SourceObject, outputs: Outputs) -> dict[str, int]:
    """Reads 10 bytes of the object and returns."""
    return {"read": len(source.body.read(10))}


def swallow(source: SourceObject, outputs: Outputs) -> dict[str, str]:
    """Reads the object and hides any error the read raised."""
    try:
        while source.body.read(MIB):
            pass
    except Exception as exc:
        return {"hidden": type(exc).__name__}
    return {}


def rewrap(source: SourceObject, outputs: Outputs) -> dict[str, str]:
    """Reads the object and turns any error the read raised into its own."""
    try:
        while source.body.read(MIB):
            pass
    except Exception as exc:
        raise ValueError("could not read the upload") from exc
    return {}


def after_five(source: SourceObject, outputs: Outputs) -> dict[str, Any]:
    """Reads 5 bytes, then hands the rest to the default processor."""
    first = source.body.read(5)
    return {**describe(source, outputs), "first": len(first)}


# --- INTEGRITY as configuration, as the worker reads it ----------------------------------


def test_a_bad_integrity_is_a_configuration_error(endpoint: str) -> None:
    code, lines = worker(endpoint, {**GOOD, "INTEGRITY": "sha-1"})
    assert code == ExitCode.CONFIG
    assert len(lines) == 1 and "INTEGRITY must be one of" in lines[0]["error"], lines


def test_queue_mode_stops_at_once_on_a_bad_integrity(endpoint: str) -> None:
    code, lines = worker(endpoint, {"QUEUE_URL": "http://localhost:9/q", "INTEGRITY": "crc"})
    assert code == ExitCode.CONFIG
    assert [line["event"] for line in lines] == ["queue-config"]
    assert "INTEGRITY must be one of" in lines[0]["error"]


# --- through the emulator ----------------------------------------------------------------


def test_each_mode_records_what_it_checked(endpoint: str) -> None:
    body = b"id,amount\n1,10\n2,20\n"
    event = put(endpoint, "in/integrity-modes.csv", body, ChecksumAlgorithm="CRC64NVME")
    stored = client(endpoint).head_object(
        Bucket=BUCKET, Key="in/integrity-modes.csv", ChecksumMode="ENABLED"
    )["ChecksumCRC64NVME"]
    digest = hashlib.sha256(body).hexdigest()
    expected = {
        "sha256": {"method": "sha256", "algorithm": "SHA256", "checksum": digest},
        "s3": {"method": "s3", "algorithm": "CRC64NVME", "checksum": stored},
        "none": {"method": "none"},
    }
    for mode, record in expected.items():
        code, lines = worker(endpoint, event, OUTPUT_PREFIX=f"out-int-{mode}/", INTEGRITY=mode)
        assert code == ExitCode.PROCESSED, lines[-1]
        (key,) = keys_under(endpoint, f"out-int-{mode}/")
        facts = manifest(endpoint, key)
        assert facts["integrity"] == record == lines[-1]["integrity"], mode
        # The default processor's SHA-256 stays in the default mode, and only there.
        assert facts["result"].get("sha256") == (digest if mode == "sha256" else None)
        assert facts["result"]["csv"] == {"header": ["id", "amount"], "rows": 2}


def test_s3_mode_verifies_what_the_uploader_chose(endpoint: str) -> None:
    """boto3 uploads with CRC32 by default; a CRC32C upload needs awscrt to verify."""
    for algorithm in ("CRC32", "CRC32C"):
        extra = {"ChecksumAlgorithm": algorithm}
        event = put(endpoint, f"in/integrity-{algorithm}.bin", os.urandom(3 * MIB + 1), **extra)
        code, lines = worker(endpoint, event, INTEGRITY="s3")
        assert code == ExitCode.PROCESSED, lines[-1]
        assert lines[-1]["integrity"]["method"] == "s3"
        assert lines[-1]["integrity"]["algorithm"] == algorithm


def test_an_object_without_a_stored_checksum_falls_back_and_says_why(endpoint: str) -> None:
    plain = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(request_checksum_calculation="when_required"),
    )
    body = b"no checksum sent\n"
    answer = plain.put_object(Bucket=BUCKET, Key="in/integrity-none-stored.txt", Body=body)
    event = {
        "S3_BUCKET": BUCKET,
        "S3_KEY": "in/integrity-none-stored.txt",
        "S3_SIZE": str(len(body)),
        "S3_ETAG": answer["ETag"].strip('"'),
        "S3_VERSION_ID": answer["VersionId"],
    }
    code, lines = worker(endpoint, event, INTEGRITY="s3")
    assert code == ExitCode.PROCESSED, lines[-1]
    assert lines[-1]["integrity"] == {
        "method": "sha256",
        "algorithm": "SHA256",
        "checksum": hashlib.sha256(body).hexdigest(),
        "requested": "s3",
        "reason": "S3 returned no stored checksum for this object",
    }


def test_a_composite_multipart_checksum_falls_back_to_sha256(endpoint: str) -> None:
    s3 = client(endpoint)
    key = "in/integrity-composite.bin"
    upload = s3.create_multipart_upload(
        Bucket=BUCKET, Key=key, ChecksumAlgorithm="CRC32", ChecksumType="COMPOSITE"
    )
    part = os.urandom(5 * MIB)
    parts = []
    for number in (1, 2):
        answer = s3.upload_part(
            Bucket=BUCKET,
            Key=key,
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=part,
            ChecksumAlgorithm="CRC32",
        )
        parts.append(
            {"PartNumber": number, "ETag": answer["ETag"], "ChecksumCRC32": answer["ChecksumCRC32"]}
        )
    done = s3.complete_multipart_upload(
        Bucket=BUCKET, Key=key, UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
    )
    event = {
        "S3_BUCKET": BUCKET,
        "S3_KEY": key,
        "S3_SIZE": str(2 * len(part)),
        "S3_ETAG": done["ETag"].strip('"'),
        "S3_VERSION_ID": done["VersionId"],
    }
    code, lines = worker(endpoint, event, INTEGRITY="s3")
    assert code == ExitCode.PROCESSED, lines[-1]
    record = lines[-1]["integrity"]
    assert record["method"] == "sha256" and record["requested"] == "s3"
    assert record["checksum"] == hashlib.sha256(part + part).hexdigest()
    assert "composite CRC32" in record["reason"]


def test_without_awscrt_a_crc64nvme_object_is_not_claimed_verified(endpoint: str) -> None:
    """The worker as a botocore without awscrt runs it: the import is blocked."""
    event = put(endpoint, "in/integrity-no-crt.bin", b"x" * 1000, ChecksumAlgorithm="CRC64NVME")
    crc32 = put(endpoint, "in/integrity-no-crt-crc32.bin", b"y" * 1000)
    probe = (
        "import sys, runpy; sys.modules['awscrt'] = None; "
        "runpy.run_module('private_s3_worker', run_name='__main__')"
    )
    records = []
    for each in (event, crc32):
        env = {**aws_env(endpoint), **each, "PYTHONPATH": str(ROOT), "INTEGRITY": "s3"}
        run = subprocess.run(
            [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120
        )
        assert run.returncode == ExitCode.PROCESSED, run.stdout + run.stderr
        records.append(json.loads(run.stdout.splitlines()[-1])["integrity"])
    assert records[0]["method"] == "sha256"
    assert records[0]["reason"] == (
        "S3 stores a CRC64NVME checksum; botocore verifies it only with awscrt, which is "
        "not installed"
    )
    assert records[1]["method"] == "s3" and records[1]["algorithm"] == "CRC32"  # no CRT needed


def test_an_empty_object_is_verified(endpoint: str) -> None:
    event = put(endpoint, "in/integrity-empty.bin", b"", ChecksumAlgorithm="CRC64NVME")
    code, lines = worker(endpoint, event, INTEGRITY="s3")
    assert code == ExitCode.PROCESSED, lines[-1]
    assert lines[-1]["integrity"] == {
        "method": "s3",
        "algorithm": "CRC64NVME",
        "checksum": "AAAAAAAAAAA=",
    }


def test_a_processor_that_stops_early_gets_no_integrity_claim(endpoint: str) -> None:
    event = put(endpoint, "in/integrity-head.bin", os.urandom(8 * MIB))
    code, lines = worker(
        endpoint,
        event,
        OUTPUT_PREFIX="out-int-head/",
        PROCESSOR="tests.test_worker_integrity:head_only",
    )
    assert code == ExitCode.PROCESSED, lines[-1]
    assert lines[-1]["integrity"]["method"] == "none"
    assert lines[-1]["integrity"]["requested"] == "sha256"


def test_stopping_early_gets_no_claim_even_where_the_read_ahead_reached_the_end(
    endpoint: str,
) -> None:
    """A small object arrives in the read-ahead's first read, which finishes the check
    before the processor gets a byte: the record still follows what the processor read."""
    event = put(endpoint, "in/integrity-head-small.bin", b"abc" * 100, ChecksumAlgorithm="CRC32")
    code, lines = worker(
        endpoint, event, INTEGRITY="s3", PROCESSOR="tests.test_worker_integrity:head_only"
    )
    assert code == ExitCode.PROCESSED, lines[-1]
    assert lines[-1]["integrity"]["method"] == "none"
    assert lines[-1]["integrity"]["requested"] == "s3"


def test_the_default_processor_after_another_read_hashes_what_it_read(endpoint: str) -> None:
    body = os.urandom(3 * MIB)
    event = put(endpoint, "in/integrity-after-five.bin", body)
    code, lines = worker(endpoint, event, PROCESSOR="tests.test_worker_integrity:after_five")
    assert code == ExitCode.PROCESSED, lines[-1]
    result = lines[-1]["result"]
    assert (result["first"], result["size"]) == (5, len(body) - 5)
    assert result["sha256"] == hashlib.sha256(body[5:]).hexdigest()
    # The record is the worker's, over every byte: the processor read them all.
    assert lines[-1]["integrity"]["checksum"] == hashlib.sha256(body).hexdigest()


# --- faults between the worker and the emulator ---------------------------------------


def _through(
    proxy: FaultProxy, endpoint: str, name: str, body: bytes, mode: str, *faults: Fault, **env: str
) -> tuple[int, list[dict[str, Any]], str]:
    event = put(endpoint, f"in/integrity-{name}.bin", body, ChecksumAlgorithm="CRC64NVME")
    proxy.faults = list(faults)
    out = f"out-int-faults/{name}/"
    code, lines = worker(
        proxy.url, event, OUTPUT_PREFIX=out, INTEGRITY=mode, AWS_MAX_ATTEMPTS="4", **env
    )
    return code, lines, out


def test_altered_bytes_fail_the_run_in_s3_mode(proxy: FaultProxy, endpoint: str) -> None:
    code, lines, out = _through(
        proxy, endpoint, "flip", os.urandom(3 * MIB), "s3", Fault("GET", OBJECT_GET, "flip", 1)
    )
    assert code == ExitCode.FAILED, lines[-1]
    assert lines[-1]["error"].startswith("integrity: S3 stores CRC64NVME "), lines[-1]
    assert "\n" not in lines[-1]["error"]
    assert proxy.faults[0].injected == 1
    assert keys_under(endpoint, out) == []


def test_a_processor_cannot_hide_a_mismatch(proxy: FaultProxy, endpoint: str) -> None:
    code, lines, out = _through(
        proxy,
        endpoint,
        "flip-hidden",
        os.urandom(3 * MIB),
        "s3",
        Fault("GET", OBJECT_GET, "flip", 1),
        PROCESSOR="tests.test_worker_integrity:swallow",
    )
    assert code == ExitCode.FAILED, lines[-1]
    assert lines[-1]["error"].startswith("integrity: "), lines[-1]
    assert keys_under(endpoint, out) == []


def test_sha256_mode_records_altered_bytes_it_cannot_know_about(
    proxy: FaultProxy, endpoint: str
) -> None:
    """What ``s3`` adds: ``sha256`` digests the bytes received, whatever they are."""
    body = os.urandom(MIB)
    code, lines, _ = _through(
        proxy, endpoint, "flip-sha", body, "sha256", Fault("GET", OBJECT_GET, "flip", 1)
    )
    assert code == ExitCode.PROCESSED, lines[-1]
    assert lines[-1]["integrity"]["checksum"] != hashlib.sha256(body).hexdigest()


def test_a_resumed_stream_is_verified_over_all_its_bytes(proxy: FaultProxy, endpoint: str) -> None:
    body = os.urandom(3 * MIB + 5)
    code, lines, out = _through(
        proxy, endpoint, "cut", body, "s3", Fault("GET", OBJECT_GET, "cut", 1)
    )
    assert code == ExitCode.PROCESSED, lines[-1]
    stored = client(endpoint).head_object(
        Bucket=BUCKET, Key="in/integrity-cut.bin", ChecksumMode="ENABLED"
    )["ChecksumCRC64NVME"]
    assert lines[-1]["integrity"] == {"method": "s3", "algorithm": "CRC64NVME", "checksum": stored}
    gets = [r for r in proxy.requests if r[0] == "GET" and "/in/integrity-cut" in r[1]]
    # The first GET asks for S3's checksum; the ranged resume carries none to ask for.
    assert [(r[2] == "", r[3]) for r in gets] == [(True, "ENABLED"), (False, "")]
    assert len(keys_under(endpoint, out)) == 1


def test_a_corrupted_resumed_segment_fails(proxy: FaultProxy, endpoint: str) -> None:
    code, lines, out = _through(
        proxy,
        endpoint,
        "cut-flip",
        os.urandom(3 * MIB),
        "s3",
        Fault("GET", OBJECT_GET, "cut", 1),
        Fault("GET", OBJECT_GET, "flip", 1),
    )
    assert code == ExitCode.FAILED, lines[-1]
    assert lines[-1]["error"].startswith("integrity: S3 stores CRC64NVME "), lines[-1]
    assert [f.injected for f in proxy.faults] == [1, 1]
    ranges = [r[2] for r in proxy.requests if r[0] == "GET" and "/in/integrity-cut-flip" in r[1]]
    assert ranges[0] == "" and ranges[1].startswith("bytes=")  # the flip hit the resume
    assert keys_under(endpoint, out) == []


def test_queue_mode_verifies_as_one_object_mode_does(endpoint: str) -> None:
    from tests.test_worker_queue import Worker, event_body, manifests, new_queue, send

    url = new_queue(endpoint)
    uploaded = put(endpoint, "in/q/integrity.bin", b"q" * 4096, ChecksumAlgorithm="CRC64NVME")
    send(endpoint, url, event_body(uploaded))
    queue_worker = Worker(
        endpoint, url, OUTPUT_PREFIX="out-q-int/", INTEGRITY="s3", QUEUE_IDLE_EXIT_SECONDS="2"
    )
    assert queue_worker.finish() == 0
    (found,) = manifests(endpoint, "out-q-int/")
    assert found["integrity"]["method"] == "s3"
    assert found["integrity"]["algorithm"] == "CRC64NVME"
    assert "sha256" not in found["result"]


def test_a_processor_that_rewraps_a_mismatch_is_reported_as_a_mismatch(
    proxy: FaultProxy, endpoint: str
) -> None:
    code, lines, out = _through(
        proxy,
        endpoint,
        "flip-rewrapped",
        os.urandom(3 * MIB),
        "s3",
        Fault("GET", OBJECT_GET, "flip", 1),
        PROCESSOR="tests.test_worker_integrity:rewrap",
    )
    assert code == ExitCode.FAILED, lines[-1]
    assert lines[-1]["error"].startswith("integrity: S3 stores CRC64NVME "), lines[-1]
    assert keys_under(endpoint, out) == []
