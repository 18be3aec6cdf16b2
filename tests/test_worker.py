"""The worker as a local process against the moto server (S3 with versioning)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from private_s3_processor_cli.local.emulator import aws_env
from private_s3_worker import ExitCode
from private_s3_worker.keys import MANIFEST

from tests.conftest import BUCKET, ROOT, client, put


def worker(
    endpoint: str, event: dict[str, str], *args: str, **env: str
) -> tuple[int, list[dict[str, Any]]]:
    full = {**aws_env(endpoint), **event, **env, "PYTHONPATH": str(ROOT), "AWS_MAX_ATTEMPTS": "2"}
    run = subprocess.run(
        [sys.executable, "-m", "private_s3_worker", *args],
        env=full,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert run.stderr == "", run.stderr
    return run.returncode, lines


def keys_under(endpoint: str, prefix: str) -> list[str]:
    answer = client(endpoint).list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for o in answer.get("Contents", [])]


def manifest(endpoint: str, key: str) -> dict[str, Any]:
    body = client(endpoint).get_object(Bucket=BUCKET, Key=key)["Body"].read()
    result: dict[str, Any] = json.loads(body)
    return result


KEYS = {
    "spaces": "in/a file with spaces.csv",
    "plus": "in/a+b+c.csv",
    "percent": "in/100%25 done %.csv",
    "equals": "in/k=v&x=y.csv",
    "unicode": "in/Überweisung-日本語-🙂.csv",
    "parentheses": "in/report (final) (2).csv",
    "quotes": 'in/it\'s "quoted".csv',
    "backslash": "in/back\\slash.csv",
    "longest": "in/" + "é" * 508 + "x.csv",  # 3 + 1,016 + 5 = 1,024 bytes (S3's limit)
}


@pytest.mark.parametrize("name", sorted(KEYS))
def test_every_key_class(endpoint: str, name: str) -> None:
    key = KEYS[name]
    assert len(key.encode()) <= 1024
    body = b"id,amount\n1,10\n2,20\n"
    event = put(endpoint, key, body)
    code, lines = worker(endpoint, event, OUTPUT_PREFIX=f"out-{name}/")
    assert code == ExitCode.PROCESSED, lines
    final = lines[-1]
    assert final["key_form"] == "as-given" and final["bytes"] == len(body)
    written = keys_under(endpoint, f"out-{name}/")
    assert len(written) == 1 and written[0].endswith("/manifest.json")
    assert all(len(k.encode()) <= 1024 for k in written)
    facts = manifest(endpoint, written[0])
    assert facts["source"]["key"] == key
    assert facts["result"]["csv"] == {"header": ["id", "amount"], "rows": 2}
    assert facts["result"]["sha256"] == hashlib.sha256(body).hexdigest()


def test_longest_key_output_is_truncated_with_a_hash(endpoint: str) -> None:
    written = keys_under(endpoint, "out-longest/")
    assert len(written[0].encode()) <= 1024
    assert "~" in written[0]  # start of the key, then ~<sha256 of the whole key>
    assert hashlib.sha256(KEYS["longest"].encode()).hexdigest()[:16] in written[0]


def test_url_encoded_event_key_finds_the_object(endpoint: str) -> None:
    key = "in/encoded name+(1) ü.csv"
    event = put(endpoint, key, b"a\n1\n")
    event["S3_KEY"] = quote_plus(key, safe="/")
    code, lines = worker(endpoint, event, OUTPUT_PREFIX="out-encoded/")
    assert code == ExitCode.PROCESSED, lines
    assert lines[-1]["key_form"] == "url-decoded"
    assert lines[-1]["resolved_key"] == key
    assert keys_under(endpoint, f"out-encoded/{key}/")


def test_deleted_object_is_gone(endpoint: str) -> None:
    """Deleted (a delete marker), and the event's version removed for good since: the key
    has a history in the bucket, so the object is gone, not the key mangled."""
    event = put(endpoint, "in/short-lived.csv", b"x\n")
    s3 = client(endpoint)
    s3.delete_object(Bucket=BUCKET, Key="in/short-lived.csv")
    s3.delete_object(Bucket=BUCKET, Key="in/short-lived.csv", VersionId=event["S3_VERSION_ID"])
    code, lines = worker(endpoint, event, OUTPUT_PREFIX="out-gone/")
    assert code == ExitCode.GONE, lines
    assert "not found" in lines[-1]["error"]
    assert keys_under(endpoint, "out-gone/") == []


def test_deleted_object_without_a_version_in_the_event_is_gone(endpoint: str) -> None:
    event = put(endpoint, "in/deleted-unversioned-event.csv", b"x\n")
    client(endpoint).delete_object(Bucket=BUCKET, Key="in/deleted-unversioned-event.csv")
    event["S3_VERSION_ID"] = ""  # only the ETag pins it; the current version is a marker
    code, lines = worker(endpoint, event, OUTPUT_PREFIX="out-gone/")
    assert code == ExitCode.GONE, lines
    assert keys_under(endpoint, "out-gone/") == []


def test_overwritten_version_removed_is_gone(endpoint: str) -> None:
    """The event's version was removed for good; a newer version of the key exists."""
    event = put(endpoint, "in/replaced.csv", b"old\n")
    put(endpoint, "in/replaced.csv", b"new\n")
    client(endpoint).delete_object(
        Bucket=BUCKET, Key="in/replaced.csv", VersionId=event["S3_VERSION_ID"]
    )
    code, lines = worker(endpoint, event, OUTPUT_PREFIX="out-gone/")
    assert code == ExitCode.GONE, lines


def test_wrong_etag_is_gone_not_processed_under_the_old_name(endpoint: str) -> None:
    event = put(endpoint, "in/overwritten.csv", b"old\n")
    put(endpoint, "in/overwritten.csv", b"new content\n")
    event["S3_VERSION_ID"] = ""  # an event without a version: only the ETag pins it
    code, lines = worker(endpoint, event, OUTPUT_PREFIX="out-overwritten/")
    assert code == ExitCode.GONE
    assert "overwritten" in lines[-1]["error"]
    assert keys_under(endpoint, "out-overwritten/") == []


def test_version_pin_processes_exactly_the_triggering_version(endpoint: str) -> None:
    event = put(endpoint, "in/versioned.csv", b"h\nold\n")
    put(endpoint, "in/versioned.csv", b"h\nnew\nnewer\n")
    code, lines = worker(endpoint, event, OUTPUT_PREFIX="out-versioned/")
    assert code == ExitCode.PROCESSED, lines
    assert lines[-1]["result"]["sha256"] == hashlib.sha256(b"h\nold\n").hexdigest()
    assert lines[-1]["result"]["csv"]["rows"] == 1


# --- keys EventBridge changed in transit (Direct delivery) ---------------------------------

# Keys as uploaded, each with a literal backslash that forms a valid JSON escape. The
# Direct rule's input template puts the key raw between JSON quotes (README, "Keys"), so
# the task receives what a JSON parser makes of it: a different key.
MANGLED = {
    "tab": "in/a\\tb.csv",
    "newline": "in/a\\nb",
    "backslash": "in/a\\\\b",
    "unicode": "in/a\\u0041.csv",
    "quote": 'in/a\\"b',
}


def in_transit(key: str) -> str:
    """``key`` after EventBridge substituted it unescaped into a JSON string."""
    received: str = json.loads(f'"{key}"')
    return received


@pytest.mark.parametrize("name", sorted(MANGLED))
def test_a_key_changed_in_transit_is_unknown_not_gone(endpoint: str, name: str) -> None:
    true_key = MANGLED[name]
    event = put(endpoint, true_key, b"a\n1\n")
    received = in_transit(true_key)
    assert received != true_key
    code, lines = worker(
        endpoint, {**event, "S3_KEY": received}, OUTPUT_PREFIX=f"out-mangled-{name}/"
    )
    assert code == ExitCode.UNKNOWN_KEY, lines
    final = lines[-1]
    assert final["outcome"] == "unknown_key"
    assert (final["key"], final["version_id"], final["etag"], final["size"]) == (
        received,
        event["S3_VERSION_ID"],
        event["S3_ETAG"],
        4,
    )
    assert "never existed" in final["error"], final
    assert "private-s3-processor redrive" in final["error"]
    assert "\n" not in final["error"]
    assert keys_under(endpoint, f"out-mangled-{name}/") == []


def test_unknown_key_is_66_and_a_failure() -> None:
    """redrive and the failure rule rely on this number; never renumber."""
    from private_s3_processor.rules import NON_FAILURE_EXIT_CODES

    assert int(ExitCode.UNKNOWN_KEY) == 66
    assert ExitCode.UNKNOWN_KEY not in NON_FAILURE_EXIT_CODES


def test_a_longer_key_that_starts_with_the_event_key_is_not_that_key(endpoint: str) -> None:
    """Listing by prefix also lists longer keys: only the exact key counts as history."""
    event = put(endpoint, "in/shared-start.csv", b"x\n")
    code, lines = worker(endpoint, {**event, "S3_KEY": "in/shared-start"})
    assert code == ExitCode.UNKNOWN_KEY, lines


def test_a_key_whose_every_trace_was_removed_fails_visibly(endpoint: str) -> None:
    """Its only version removed for good, no delete marker: the bucket keeps no trace, so
    the worker cannot tell it from a key that never existed. It fails (dead-lettered)
    rather than counting as done; redrive then reports the version it cannot find."""
    event = put(endpoint, "in/no-trace.csv", b"x\n")
    client(endpoint).delete_object(
        Bucket=BUCKET, Key="in/no-trace.csv", VersionId=event["S3_VERSION_ID"]
    )
    code, lines = worker(endpoint, event)
    assert code == ExitCode.UNKNOWN_KEY, lines


class ListingClient:
    """The emulator's S3 client, recording (or refusing) ListObjectVersions."""

    def __init__(self, real: Any, deny: bool = False) -> None:
        self._real = real
        self.deny = deny
        self.listed: list[dict[str, Any]] = []

    def list_object_versions(self, **kwargs: Any) -> Any:
        from botocore.exceptions import ClientError

        self.listed.append(kwargs)
        if self.deny:
            error = {"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}
            raise ClientError(error, "ListObjectVersions")  # type: ignore[arg-type]
        return self._real.list_object_versions(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _in_process(
    endpoint: str, event: dict[str, str], s3: Any, monkeypatch: pytest.MonkeyPatch
) -> ExitCode:
    from private_s3_worker.run import run

    for name, value in aws_env(endpoint).items():
        monkeypatch.setenv(name, value)
    return run(env=event, client=s3)


def test_one_version_listing_per_key_form(
    endpoint: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    event = put(endpoint, "in/listed-once.csv", b"x\n")
    event["S3_KEY"] = "in/never+uploaded%21.csv"  # two forms: as given, URL-decoded
    listing = ListingClient(client(endpoint))
    code = _in_process(endpoint, event, listing, monkeypatch)
    assert code == ExitCode.UNKNOWN_KEY
    assert [(c["Prefix"], c["MaxKeys"]) for c in listing.listed] == [
        ("in/never+uploaded%21.csv", 1),
        ("in/never uploaded!.csv", 1),
    ]
    final = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert final["key"] == "in/never+uploaded%21.csv"


def test_a_denied_version_listing_fails_visibly_and_says_why(
    endpoint: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Counting it GONE would lose an altered key silently; FAILED dead-letters it."""
    true_key = MANGLED["tab"]
    event = put(endpoint, true_key, b"x\n")
    listing = ListingClient(client(endpoint), deny=True)
    code = _in_process(endpoint, {**event, "S3_KEY": in_transit(true_key)}, listing, monkeypatch)
    assert code == ExitCode.FAILED
    final = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert "s3:ListBucketVersions" in final["error"] and "AccessDenied" in final["error"]


@pytest.mark.parametrize(
    ("key", "body", "expected"),
    [
        ("in/empty.bin", b"", {"size": 0, "lines": 0}),
        ("in/empty.csv", b"", {"size": 0, "lines": 0, "csv": {"header": [], "rows": 0}}),
        (
            "in/header-only.csv",
            b"a,b,c\n",
            {"size": 6, "lines": 1, "csv": {"header": ["a", "b", "c"], "rows": 0}},
        ),
        ("in/no-final-newline.txt", b"one\ntwo", {"size": 7, "lines": 2}),
        (
            "in/quoted-newlines.csv",
            b'k,v\n1,"two\nlines"\n2,x\n',
            {"lines": 4, "csv": {"header": ["k", "v"], "rows": 2}},
        ),
    ],
)
def test_manifest_facts(endpoint: str, key: str, body: bytes, expected: dict[str, Any]) -> None:
    event = put(endpoint, key, body, ContentType="text/plain")
    code, lines = worker(endpoint, event, OUTPUT_PREFIX="out-facts/")
    assert code == ExitCode.PROCESSED, lines
    result = lines[-1]["result"]
    assert result["sha256"] == hashlib.sha256(body).hexdigest()
    assert result["content_type"] == "text/plain"
    for name, value in expected.items():
        assert result[name] == value, (name, result)
    if "csv" not in expected:
        assert "csv" not in result


def test_processor_that_raises_writes_nothing(endpoint: str) -> None:
    event = put(endpoint, "in/boom.csv", b"0123456789abcdef\n")
    code, lines = worker(
        endpoint, event, OUTPUT_PREFIX="out-boom/", PROCESSOR="tests.worker_processors:explode"
    )
    assert code == ExitCode.FAILED
    assert "the processor broke halfway" in lines[-1]["error"]
    assert keys_under(endpoint, "out-boom/") == []


@pytest.mark.parametrize(
    ("processor", "message"),
    [
        ("returns_list", "processor returned a list, not a map"),
        ("returns_set", "processor returned a result that is not JSON"),
    ],
)
def test_processor_result_must_be_a_json_map(endpoint: str, processor: str, message: str) -> None:
    event = put(endpoint, f"in/{processor}.txt", b"data\n")
    code, lines = worker(
        endpoint,
        event,
        OUTPUT_PREFIX=f"out-{processor}/",
        PROCESSOR=f"tests.worker_processors:{processor}",
    )
    assert code == ExitCode.FAILED
    assert message in lines[-1]["error"], lines[-1]
    assert keys_under(endpoint, f"out-{processor}/") == []


def test_custom_processor_outputs_and_rerun_skips(endpoint: str) -> None:
    body = b"hello world\n" * 1000
    event = put(endpoint, "in/text.txt", body)
    code, lines = worker(
        endpoint, event, OUTPUT_PREFIX="out-custom/", PROCESSOR="tests.worker_processors:upper"
    )
    assert code == ExitCode.PROCESSED, lines
    written = sorted(keys_under(endpoint, "out-custom/"))
    base = f"out-custom/in/text.txt/{event['S3_ETAG']}/"
    assert written == [base + "manifest.json", base + "summary.txt", base + "upper.txt"]
    upper = client(endpoint).get_object(Bucket=BUCKET, Key=base + "upper.txt")["Body"].read()
    assert upper == body.upper()
    facts = manifest(endpoint, base + "manifest.json")
    assert facts["outputs"] == ["summary.txt", "upper.txt"]
    assert facts["result"] == {"copied": len(body)}

    code, lines = worker(
        endpoint, event, OUTPUT_PREFIX="out-custom/", PROCESSOR="tests.worker_processors:upper"
    )
    assert code == ExitCode.SKIPPED
    assert lines[-1]["manifest"] == base + "manifest.json"
    versions = client(endpoint).list_object_versions(Bucket=BUCKET, Prefix="out-custom/")
    assert len(versions["Versions"]) == 3  # nothing written twice


def test_without_output_prefix_nothing_is_written(endpoint: str) -> None:
    event = put(endpoint, "in/plain.csv", b"a\n1\n")
    before = len(keys_under(endpoint, ""))
    code, lines = worker(endpoint, event)
    assert code == ExitCode.PROCESSED
    assert lines[-1]["outputs"] == [] and lines[-1]["result"]["csv"]["rows"] == 1
    assert len(keys_under(endpoint, "")) == before


GOOD = {
    "S3_BUCKET": BUCKET,
    "S3_KEY": "in/x.csv",
    "S3_SIZE": "1",
    "S3_ETAG": "9a0364b9e99bb480dd25e1f0284c8555",
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"S3_KEY": ""}, "S3_KEY is not set"),
        ({"S3_BUCKET": ""}, "S3_BUCKET is not set"),
        ({"S3_SIZE": "12kb"}, "S3_SIZE must be a whole number"),
        ({"S3_ETAG": "<etag>"}, "S3_ETAG is not an S3 ETag"),
        ({"S3_KEY": "k" * 1025}, "S3 keys are at most 1,024"),
        ({"PROCESSOR": "not a spec"}, "PROCESSOR must look like"),
        ({"PROCESSOR": "no_such_module:run"}, "cannot import no_such_module"),
        ({"PROCESSOR": "tests.worker_processors:missing"}, "has no function missing"),
        ({"PROCESSOR": "tests.worker_processors:not_callable"}, "has no function not_callable"),
        ({"OUTPUT_PREFIX": "p" * 900}, "OUTPUT_PREFIX is 900 bytes"),
    ],
)
def test_bad_configuration(endpoint: str, change: dict[str, str], message: str) -> None:
    code, lines = worker(endpoint, {**GOOD, **change})
    assert code == ExitCode.CONFIG
    assert len(lines) == 1 and message in lines[0]["error"], lines
    assert "\n" not in lines[0]["error"]


def test_unknown_arguments_are_a_configuration_error(endpoint: str) -> None:
    code, lines = worker(endpoint, GOOD, "--bogus")
    assert code == ExitCode.CONFIG and "unknown arguments" in lines[0]["error"]


def test_test_mode_echoes_and_sleeps(endpoint: str) -> None:
    code, lines = worker(endpoint, GOOD, "test", TEST_SLEEP_SECONDS="0")
    assert code == 0
    assert lines[0]["event"] == "test-mode" and lines[0]["S3_KEY"] == "in/x.csv"


def test_log_lines_carry_the_facts(endpoint: str) -> None:
    event = put(endpoint, "in/logged.csv", b"a\n")
    code, lines = worker(endpoint, event, OUTPUT_PREFIX="out-logged/")
    final = lines[-1]
    for field in ("bucket", "key", "etag", "version_id", "bytes", "duration_s", "outcome"):
        assert field in final, field
    assert final["outcome"] == "processed" and code == 0
    assert os.path.basename(final["outputs"][0]) == "manifest.json"


def test_unreachable_s3_is_a_failure(tmp_path: Path) -> None:
    event = {**GOOD}
    code, lines = worker("http://localhost:9", event, AWS_MAX_ATTEMPTS="1")
    assert code == ExitCode.FAILED
    assert lines[-1]["error"].startswith("S3: ")


class CutStream:
    """A body that delivers ``limit`` bytes, then fails as a dropped connection does."""

    def __init__(self, body: Any, limit: int) -> None:
        self._body = body
        self._left = limit

    def read(self, amount: int = -1) -> bytes:
        from botocore.exceptions import ResponseStreamingError

        if self._left <= 0:
            raise ResponseStreamingError(error="Connection broken: IncompleteRead")
        data: bytes = self._body.read(min(amount, self._left))
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._body.close()


class CuttingClient:
    """The real S3 client of the emulator, whose first ``cuts`` GETs are cut short."""

    def __init__(self, real: Any, cuts: int, limit: int) -> None:
        self._real = real
        self.cuts = cuts
        self.limit = limit
        self.ranges: list[str | None] = []

    def get_object(self, **kwargs: Any) -> Any:
        response = self._real.get_object(**kwargs)
        self.ranges.append(kwargs.get("Range"))
        if self.cuts:
            self.cuts -= 1
            response["Body"] = CutStream(response["Body"], self.limit)
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _run_in_process(
    endpoint: str, event: dict[str, str], cutting: CuttingClient, monkeypatch: pytest.MonkeyPatch
) -> ExitCode:
    return _in_process(endpoint, {**event, "OUTPUT_PREFIX": "out-cut/"}, cutting, monkeypatch)


def test_a_dropped_connection_resumes_where_it_stopped(
    endpoint: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    body = os.urandom(3 * 1024 * 1024 + 17)
    event = put(endpoint, "in/cut.bin", body)
    cutting = CuttingClient(client(endpoint), cuts=2, limit=1024 * 1024 + 5)
    assert _run_in_process(endpoint, event, cutting, monkeypatch) == ExitCode.PROCESSED
    final = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert final["result"]["sha256"] == hashlib.sha256(body).hexdigest()
    assert cutting.ranges == [None, "bytes=1048581-", "bytes=2097162-"]


def test_a_connection_that_keeps_dropping_fails_without_output(
    endpoint: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    event = put(endpoint, "in/always-cut.bin", os.urandom(64 * 1024))
    cutting = CuttingClient(client(endpoint), cuts=100, limit=1000)
    assert _run_in_process(endpoint, event, cutting, monkeypatch) == ExitCode.FAILED
    final = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert "reading the object failed" in final["error"]
    assert keys_under(endpoint, "out-cut/in/always-cut.bin") == []


def test_a_concurrent_duplicate_run_reports_skipped_not_processed(endpoint: str) -> None:
    """SQS delivers at least once: two tasks may process one upload at the same time. The
    manifest is written create-only, so exactly one run reports PROCESSED and the other
    SKIPPED, and the manifest is the first run's, not overwritten."""
    event = put(endpoint, "in/concurrent.csv", b"a\n")
    code, lines = worker(
        endpoint,
        event,
        OUTPUT_PREFIX="out-concurrent/",
        PROCESSOR="tests.worker_processors:another_run_publishes_first",
    )
    assert code == ExitCode.SKIPPED, lines[-1]
    assert lines[-1]["outcome"] == "skipped" and lines[-1]["concurrent"] is True
    (manifest_key,) = [k for k in keys_under(endpoint, "out-concurrent/") if k.endswith(MANIFEST)]
    assert manifest(endpoint, manifest_key) == {}  # the other run's, kept
