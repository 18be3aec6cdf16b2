"""The worker in queue mode (QUEUE_URL set) as a real process, against the moto server's
S3 and SQS: what is deleted, left, released and dead-lettered, read back from the queues
and the bucket; task protection recorded by a stand-in for the ECS agent."""

from __future__ import annotations

import http.server
import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import boto3
import pytest
from private_s3_processor_cli.local.emulator import REGION, aws_env
from private_s3_worker.config import ConfigError
from private_s3_worker.event import from_event
from private_s3_worker.inflight import Delivery, InFlight
from private_s3_worker.queue_settings import from_environment

from tests.conftest import BUCKET, ROOT, client, load_event, put

ECHO = "private_s3_worker.testing:echo"
WAIT = 90.0  # seconds a condition may take on a loaded machine; never a measured figure


def sqs(endpoint: str) -> Any:
    return boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def new_queue(endpoint: str, visibility: int = 300, max_receive: int | None = None) -> str:
    """A fresh queue (and, with ``max_receive``, its dead-letter queue by RedrivePolicy)."""
    name = f"q-{uuid.uuid4().hex[:12]}"
    attributes = {"VisibilityTimeout": str(visibility)}
    if max_receive is not None:
        dlq = sqs(endpoint).create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        arn = sqs(endpoint).get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": arn["Attributes"]["QueueArn"], "maxReceiveCount": max_receive}
        )
    url: str = sqs(endpoint).create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return url


def counts(endpoint: str, url: str) -> tuple[int, int]:
    """(visible, in flight) as SQS reports them."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    got = sqs(endpoint).get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return int(got[names[0]]), int(got[names[1]])


def event_body(uploaded: dict[str, str]) -> str:
    """The EventBridge "Object Created" event S3 sends for an upload: the rule's whole
    event is the message body (no InputTransformer)."""
    event = load_event("s3-object-created.json")
    event["detail"]["bucket"]["name"] = uploaded["S3_BUCKET"]
    event["detail"]["object"].update(
        key=uploaded["S3_KEY"],
        size=int(uploaded["S3_SIZE"]),
        etag=uploaded["S3_ETAG"],
        **{"version-id": uploaded["S3_VERSION_ID"]},
    )
    return json.dumps(event)


def send(endpoint: str, url: str, body: str) -> str:
    message_id: str = sqs(endpoint).send_message(QueueUrl=url, MessageBody=body)["MessageId"]
    return message_id


def manifests(endpoint: str, prefix: str, versions: bool = True) -> list[dict[str, Any]]:
    """Every version of every manifest under ``prefix``: a manifest written twice shows.
    ``versions=False``: the current ones only (moto answers ListObjectVersions with a 500
    when a key holds a control character; ListObjectsV2 URL-encodes them)."""
    s3 = client(endpoint)
    if versions:
        listed = s3.list_object_versions(Bucket=BUCKET, Prefix=prefix).get("Versions", [])
    else:
        listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    found = []
    for entry in listed:
        if entry["Key"].endswith("/manifest.json"):
            pin = {"VersionId": entry["VersionId"]} if versions else {}
            body = s3.get_object(Bucket=BUCKET, Key=entry["Key"], **pin)["Body"].read()
            found.append(json.loads(body))
    return found


class Worker:
    """``python -m private_s3_worker`` in queue mode; its JSON lines, read as they come."""

    def __init__(self, endpoint: str, url: str, **env: str) -> None:
        full = {
            **aws_env(endpoint),
            "PYTHONPATH": str(ROOT),
            "QUEUE_URL": url,
            "QUEUE_WAIT_SECONDS": "1",
            "QUEUE_CONCURRENCY": "2",
            "AWS_MAX_ATTEMPTS": "2",
            **env,
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "private_s3_worker"],
            env=full,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(json.loads(line))

    def events(self, name: str, **match: Any) -> list[dict[str, Any]]:
        return [
            line
            for line in list(self.lines)
            if line["event"] == name and all(line.get(k) == v for k, v in match.items())
        ]

    def until(self, condition: Callable[[], Any], what: str) -> None:
        deadline = time.monotonic() + WAIT
        while not condition():
            if time.monotonic() > deadline:
                self.proc.kill()
                raise AssertionError(f"waited in vain for {what}: {self.lines}")
            time.sleep(0.05)

    def finish(self) -> int:
        code = self.proc.wait(timeout=WAIT)
        self._reader.join(timeout=10)
        assert self.proc.stderr is not None
        stderr = self.proc.stderr.read()
        assert stderr == "", stderr  # never a traceback
        return code


@pytest.fixture
def kill_leftovers() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        if worker.proc.poll() is None:
            worker.proc.kill()
            worker.proc.wait()


# --- keys and outcomes -------------------------------------------------------------------

QUEUED_KEYS = {
    "quote": 'in/q/say "hi".csv',
    "backslash escapes": 'in/q/lit\\t\\n\\\\\\u0041\\".csv',
    "TAB": "in/q/tab\there.csv",
    "U+0001": "in/q/ctl\x01.csv",
    "NUL": "in/q/nul\x00.csv",
    "unicode": "in/q/Überweisung-日本語-🙂.csv",
    "1,024 bytes": "in/q/" + "é" * 507 + "x.csv",
}


def test_every_key_class_is_processed_intact_from_the_event_body(endpoint: str) -> None:
    """The whole event is the message, so keys no environment variable or input template
    carries (a quote, a control character, NUL, a backslash escape) arrive unchanged."""
    assert len(QUEUED_KEYS["1,024 bytes"].encode()) == 1024
    url = new_queue(endpoint)
    uploads = {name: put(endpoint, key, b"id\n1\n") for name, key in QUEUED_KEYS.items()}
    for uploaded in uploads.values():
        send(endpoint, url, event_body(uploaded))
    worker = Worker(endpoint, url, OUTPUT_PREFIX="out-q-keys/", QUEUE_IDLE_EXIT_SECONDS="2")
    assert worker.finish() == 0
    found = {m["source"]["key"]: m for m in manifests(endpoint, "out-q-keys/", False)}
    assert sorted(found) == sorted(QUEUED_KEYS.values())
    for name, uploaded in uploads.items():
        assert found[QUEUED_KEYS[name]]["source"]["version_id"] == uploaded["S3_VERSION_ID"]
    assert len(worker.events("message", action="deleted")) == len(QUEUED_KEYS)
    assert counts(endpoint, url) == (0, 0)


def test_duplicate_delivery_is_processed_once(endpoint: str) -> None:
    """EventBridge delivers at least once: the same event twice, both messages in flight
    in one task together. One run, one manifest, both messages deleted."""
    url = new_queue(endpoint)
    uploaded = put(endpoint, "in/q/twice.csv", b"a\n1\n")
    first, second = (send(endpoint, url, event_body(uploaded)) for _ in range(2))
    worker = Worker(
        endpoint,
        url,
        OUTPUT_PREFIX="out-q-dup/",
        PROCESSOR=ECHO,
        TEST_SLEEP_SECONDS="3",
        QUEUE_IDLE_EXIT_SECONDS="2",
    )
    assert worker.finish() == 0
    assert len(manifests(endpoint, "out-q-dup/")) == 1  # one version: written once
    echoed = worker.events("test-mode")
    assert len(echoed) == 1 and echoed[0]["S3_KEY"] == "in/q/twice.csv"
    assert {line["message_id"] for line in worker.events("message", action="deleted")} == {
        first,
        second,
    }
    assert counts(endpoint, url) == (0, 0)


# --- the heartbeat -----------------------------------------------------------------------


def test_a_heartbeat_keeps_a_long_object_invisible(endpoint: str) -> None:
    """Visibility 10 s, an object that takes 22 s: without the heartbeat the message is
    visible again (and another task would take it) after 10 s. (With 6 s and 14 s, the
    3 s margin the heartbeat leaves, extending at half the visibility, was twice lost
    when `make test` ran beside other tests on two busy cores: the extension landed
    after the message had become visible.)"""
    url = new_queue(endpoint, visibility=10)
    uploaded = put(endpoint, "in/q/long.csv", b"a\n")
    send(endpoint, url, event_body(uploaded))
    worker = Worker(
        endpoint,
        url,
        OUTPUT_PREFIX="out-q-long/",
        PROCESSOR=ECHO,
        TEST_SLEEP_SECONDS="22",
        QUEUE_VISIBILITY_TIMEOUT="10",
        QUEUE_IDLE_EXIT_SECONDS="1",
    )
    worker.until(lambda: worker.events("test-mode"), "the processor to start")
    started = time.monotonic()
    seen = []
    while not worker.events("finished") and worker.proc.poll() is None:
        seen.append((time.monotonic() - started, counts(endpoint, url)))
        time.sleep(0.25)
    assert {state for _, state in seen} == {(0, 1)}, seen  # never visible while in flight
    assert seen[-1][0] > 10  # watched past the visibility timeout the message started with
    assert worker.finish() == 0
    assert len(manifests(endpoint, "out-q-long/")) == 1
    assert counts(endpoint, url) == (0, 0)
    assert worker.events("heartbeat", visibility_s=10)


# --- SIGTERM -----------------------------------------------------------------------------


def test_sigterm_mid_object_releases_the_message_and_exits_0(
    endpoint: str, kill_leftovers: list[Worker]
) -> None:
    url = new_queue(endpoint, visibility=300)
    uploaded = put(endpoint, "in/q/slow.csv", b"a\n")
    message_id = send(endpoint, url, event_body(uploaded))
    worker = Worker(
        endpoint,
        url,
        OUTPUT_PREFIX="out-q-slow/",
        PROCESSOR=ECHO,
        TEST_SLEEP_SECONDS="600",
        QUEUE_STOP_TIMEOUT="4",
    )
    kill_leftovers.append(worker)
    worker.until(lambda: worker.events("test-mode"), "the processor to start")
    assert counts(endpoint, url) == (0, 1)
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.finish() == 0
    # Visible again at once, not after the 300 s visibility timeout.
    assert counts(endpoint, url) == (1, 0)
    again = sqs(endpoint).receive_message(QueueUrl=url, WaitTimeSeconds=0)["Messages"]
    assert [m["MessageId"] for m in again] == [message_id]
    assert manifests(endpoint, "out-q-slow/") == []
    assert worker.events("stopping", signal="SIGTERM")
    assert worker.events("message", action="released", message_id=message_id)
    assert worker.events("stopped", released=1)


def test_sigterm_lets_an_object_that_ends_in_time_finish(
    endpoint: str, kill_leftovers: list[Worker]
) -> None:
    url = new_queue(endpoint, visibility=300)
    uploaded = put(endpoint, "in/q/finishes.csv", b"a\n")
    send(endpoint, url, event_body(uploaded))
    worker = Worker(
        endpoint,
        url,
        OUTPUT_PREFIX="out-q-finishes/",
        PROCESSOR=ECHO,
        TEST_SLEEP_SECONDS="3",
        QUEUE_STOP_TIMEOUT="60",
    )
    kill_leftovers.append(worker)
    worker.until(lambda: worker.events("test-mode"), "the processor to start")
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.finish() == 0
    assert len(manifests(endpoint, "out-q-finishes/")) == 1
    assert counts(endpoint, url) == (0, 0)
    assert worker.events("stopped", released=0)


# --- failures ----------------------------------------------------------------------------


def test_a_poisoned_message_reaches_the_dead_letter_queue(endpoint: str) -> None:
    """Left after each failure with the doubling retry delay; the queue's redrive policy
    (maxReceiveCount 2, honoured by moto on the receive after the second) moves it."""
    url = new_queue(endpoint, visibility=300, max_receive=2)
    dlq = url + "-dlq"
    uploaded = put(endpoint, "in/q/poison.csv", b"0123456789abcdef\n")
    body = event_body(uploaded)
    send(endpoint, url, body)
    worker = Worker(
        endpoint,
        url,
        OUTPUT_PREFIX="out-q-poison/",
        PROCESSOR="tests.worker_processors:explode",
        QUEUE_RETRY_SECONDS="1",
        QUEUE_IDLE_EXIT_SECONDS="4",
    )
    assert worker.finish() == 0
    left = worker.events("message", action="left")
    assert [(m["receive_count"], m["retry_in_s"]) for m in left] == [(1, 1), (2, 2)]
    assert all("the processor broke halfway" in m["reason"] for m in left)
    assert [f["outcome"] for f in worker.events("finished")] == ["failed", "failed"]
    assert counts(endpoint, url) == (0, 0)
    dead = sqs(endpoint).receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in dead] == [body]
    assert manifests(endpoint, "out-q-poison/") == []


def test_junk_messages_are_left_and_do_not_stop_the_loop(endpoint: str) -> None:
    url = new_queue(endpoint)
    good = put(endpoint, "in/q/after-junk.csv", b"a\n")
    wrong_type = json.loads(event_body(good))
    wrong_type["detail-type"] = "Object Deleted"
    huge = json.loads(event_body(good))
    huge["detail"]["object"]["key"] = "k" * 1025
    no_etag = json.loads(event_body(good))
    del no_etag["detail"]["object"]["etag"]
    junk = {
        "not JSON": "{not json",
        "a list": "[1, 2]",
        "wrong detail-type": json.dumps(wrong_type),
        "huge key": json.dumps(huge),
        "no etag": json.dumps(no_etag),
    }
    junk_ids = {send(endpoint, url, body): name for name, body in junk.items()}
    send(endpoint, url, event_body(good))
    worker = Worker(
        endpoint,
        url,
        OUTPUT_PREFIX="out-q-junk/",
        QUEUE_RETRY_SECONDS="600",
        QUEUE_IDLE_EXIT_SECONDS="2",
    )
    assert worker.finish() == 0
    assert [m["source"]["key"] for m in manifests(endpoint, "out-q-junk/")] == [good["S3_KEY"]]
    # Left, not deleted: in flight until the retry delay, then retried, then dead-lettered.
    assert counts(endpoint, url) == (0, len(junk))
    refused = {line["message_id"]: line for line in worker.events("finished", outcome="config")}
    assert set(refused) == set(junk_ids)
    for line in refused.values():
        assert line["exit_code"] == 78 and "\n" not in line["error"]
    errors = {junk_ids[m]: line["error"] for m, line in refused.items()}
    assert "not JSON" in errors["not JSON"]
    assert "list" in errors["a list"]
    assert "'Object Deleted'" in errors["wrong detail-type"]
    assert "1,025 bytes" in errors["huge key"]
    assert "detail.object.etag is missing" in errors["no etag"]
    left = {m["message_id"] for m in worker.events("message", action="left")}
    assert left == set(junk_ids)


# --- task scale-in protection ------------------------------------------------------------


class Agent(http.server.BaseHTTPRequestHandler):
    """The ECS agent's task-protection endpoint: records each PUT and answers as the
    agent does (``{"protection": ...}``, or ``{"error": ...}`` when told to fail)."""

    puts: ClassVar[list[tuple[str, dict[str, Any]]]] = []
    fail: ClassVar[bool] = False

    def do_PUT(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).puts.append((self.path, body))
        if type(self).fail:
            answer = {"error": {"Code": "ServerException", "Message": "ECS is unreachable"}}
            status = 500
        else:
            enabled = body["ProtectionEnabled"]
            answer = {"protection": {"ProtectionEnabled": enabled, "TaskArn": "arn:task"}}
            status = 200
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        del format, args


@pytest.fixture
def agent() -> Iterator[tuple[str, type[Agent]]]:
    handler = type("RecordingAgent", (Agent,), {"puts": [], "fail": False})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/task-1", handler
    server.shutdown()
    server.server_close()


def test_protection_is_set_while_working_then_cleared(
    endpoint: str, agent: tuple[str, type[Agent]]
) -> None:
    uri, recorded = agent
    url = new_queue(endpoint)
    send(endpoint, url, event_body(put(endpoint, "in/q/protected.csv", b"a\n")))
    worker = Worker(
        endpoint,
        url,
        ECS_AGENT_URI=uri,
        PROCESSOR=ECHO,
        TEST_SLEEP_SECONDS="2",
        QUEUE_VISIBILITY_TIMEOUT="90",
        QUEUE_IDLE_EXIT_SECONDS="2",
    )
    worker.until(lambda: worker.events("test-mode"), "the processor to start")
    # While the object is in flight: protected, for as long as a message's visibility.
    assert recorded.puts == [
        ("/api/task-1/task-protection/v1/state", {"ProtectionEnabled": True, "ExpiresInMinutes": 2})
    ]
    assert worker.finish() == 0
    assert [body for _, body in recorded.puts] == [
        {"ProtectionEnabled": True, "ExpiresInMinutes": 2},
        {"ProtectionEnabled": False},
    ]
    assert [line["enabled"] for line in worker.events("protection")] == [True, False]
    assert counts(endpoint, url) == (0, 0)


def test_an_agent_that_fails_is_logged_and_the_work_goes_on(
    endpoint: str, agent: tuple[str, type[Agent]]
) -> None:
    uri, recorded = agent
    recorded.fail = True
    url = new_queue(endpoint)
    send(endpoint, url, event_body(put(endpoint, "in/q/unprotected.csv", b"a\n")))
    worker = Worker(
        endpoint,
        url,
        ECS_AGENT_URI=uri,
        OUTPUT_PREFIX="out-q-agent/",
        QUEUE_IDLE_EXIT_SECONDS="2",
    )
    assert worker.finish() == 0
    assert len(manifests(endpoint, "out-q-agent/")) == 1
    assert counts(endpoint, url) == (0, 0)
    assert recorded.puts and recorded.puts[0][1]["ProtectionEnabled"] is True
    errors = [line["error"] for line in worker.events("protection") if "error" in line]
    assert errors and "HTTP 500" in errors[0] and "ECS is unreachable" in errors[0]


def test_without_an_agent_no_protection_is_requested(endpoint: str) -> None:
    url = new_queue(endpoint)
    worker = Worker(endpoint, url, QUEUE_IDLE_EXIT_SECONDS="1")
    assert worker.finish() == 0
    assert len(worker.events("no-protection")) == 1 and not worker.events("protection")


def test_a_queue_that_cannot_be_read_is_logged_not_fatal(endpoint: str) -> None:
    url = new_queue(endpoint)
    sqs(endpoint).delete_queue(QueueUrl=url)
    worker = Worker(endpoint, url, QUEUE_IDLE_EXIT_SECONDS="3")
    assert worker.finish() == 0
    errors = worker.events("receive")
    assert errors and all("NonExistentQueue" in line["error"] for line in errors)
    assert worker.events("stopped", released=0)


def test_bad_queue_settings_are_one_line_and_exit_78(endpoint: str) -> None:
    worker = Worker(endpoint, "http://x/q", QUEUE_CONCURRENCY="lots")
    assert worker.finish() == 78
    assert len(worker.lines) == 1 and "QUEUE_CONCURRENCY" in worker.lines[0]["error"]


# --- pure parts --------------------------------------------------------------------------


def test_the_retry_delay_doubles_up_to_the_visibility_timeout() -> None:
    settings = from_environment(
        {"QUEUE_URL": "https://q", "QUEUE_VISIBILITY_TIMEOUT": "300", "QUEUE_RETRY_SECONDS": "30"}
    )
    assert [settings.retry_delay_s(n) for n in (1, 2, 3, 4, 5, 1000)] == [
        30,
        60,
        120,
        240,
        300,
        300,
    ]


def test_a_redelivered_message_in_flight_keeps_one_job_and_the_newest_receipt() -> None:
    cfg = from_event(
        event_body(
            {
                "S3_BUCKET": BUCKET,
                "S3_KEY": "k",
                "S3_SIZE": "1",
                "S3_ETAG": "9a0364b9e99bb480dd25e1f0284c8555",
                "S3_VERSION_ID": "v1",
            }
        ),
        env={},
    )
    inflight = InFlight(capacity=4)
    kind, job = inflight.admit(Delivery("m1", "receipt-1", 1), cfg)
    assert kind == "new"
    kind, same = inflight.admit(Delivery("m1", "receipt-2", 2), cfg)
    assert (kind, same) == ("redelivered", job) and inflight.count() == 1
    kind, _ = inflight.admit(Delivery("m2", "receipt-3", 1), cfg)
    assert kind == "rider"
    assert [(d.message_id, d.receipt) for d in inflight.close(job)] == [
        ("m1", "receipt-2"),
        ("m2", "receipt-3"),
    ]
    assert inflight.close(job) == [] and inflight.count() == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"size": True}, "detail.object.size must be a whole number"),
        ({"size": -1}, "detail.object.size must be a whole number"),
        ({"etag": "<etag>"}, "detail.object.etag is not an S3 ETag"),
        ({"key": ""}, "detail.object.key must be a non-empty string"),
        ({"key": "a\ud800"}, "detail.object.key is not valid unicode"),
        ({"version-id": 7}, "detail.object.version-id must be a string"),
    ],
)
def test_malformed_events_are_one_line_errors(change: dict[str, Any], message: str) -> None:
    event = load_event("s3-object-created.json")
    event["detail"]["object"].update(change)
    with pytest.raises(ConfigError, match=message) as raised:
        from_event(json.dumps(event), env={})
    assert "\n" not in str(raised.value)


def test_an_unversioned_event_has_no_version() -> None:
    event = load_event("s3-object-created.json")
    del event["detail"]["object"]["version-id"]
    cfg = from_event(json.dumps(event), env={"PROCESSOR": ECHO})
    assert cfg.version_id is None and cfg.processor == ECHO and cfg.etag.startswith('"')


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000,
        '{"detail-type": "Object Created", "detail": ' + "[" * 100_000 + "]" * 100_000 + "}",
    ],
)
def test_a_body_nested_too_deep_is_a_one_line_error(body: str) -> None:
    # json's decoder recurses per level and raises RecursionError, not ValueError: the
    # message must still be a CONFIG outcome (left with its retry delay), never a crash.
    with pytest.raises(ConfigError, match="not JSON") as raised:
        from_event(body, env={})
    assert "\n" not in str(raised.value) and len(str(raised.value)) < 300


class RecordingSqs:
    """Stands in for the SQS client where a test needs no queue: records each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def change_message_visibility(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("change_message_visibility", kwargs))
        return {}

    def delete_message(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("delete_message", kwargs))
        return {}


def test_a_job_whose_thread_cannot_start_is_left_not_held_forever(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Held forever, the job would fill a slot, keep its message hidden through every
    # heartbeat for 12 hours and keep the task protected from scale-in.
    from private_s3_worker.queue_mode import QueueWorker

    settings = from_environment(
        {"QUEUE_URL": "https://sqs.example/1/q", "QUEUE_VISIBILITY_TIMEOUT": "300"}
    )
    sqs_stub = RecordingSqs()
    worker = QueueWorker(settings, sqs=sqs_stub, s3=object())

    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    message = {
        "MessageId": "m1",
        "ReceiptHandle": "r1",
        "Attributes": {"ApproximateReceiveCount": "1"},
        "Body": json.dumps(load_event("s3-object-created.json")),
    }
    worker.admit_safely(message)
    assert worker.inflight.count() == 0
    assert sqs_stub.calls == [
        (
            "change_message_visibility",
            {"QueueUrl": settings.queue_url, "ReceiptHandle": "r1", "VisibilityTimeout": 30},
        )
    ]
