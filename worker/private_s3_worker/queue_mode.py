"""Queue mode: a long-running worker that drains the processor's SQS queue.

Chosen by QUEUE_URL. Each message body is the whole EventBridge event; each object goes
through the same ``run.process_object`` as one-object mode, QUEUE_CONCURRENCY at a time
(threads: the work waits on the network or releases the GIL in hashing, and one S3
client serves them all). Processed, skipped or gone: the message is deleted. Any failure,
a message that is not an Object Created event included: it is left with a retry delay,
and the queue's redrive policy moves it to the dead-letter queue after MaxReceiveCount
receives. SIGTERM or SIGINT: stop receiving, finish what is in flight within the stop
timeout, release the rest (visibility 0), clear protection, exit 0.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from types import FrameType
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from . import log
from .config import Config, ConfigError
from .event import from_event
from .exitcodes import ExitCode
from .heartbeat import Heartbeat
from .inflight import Delivery, InFlight, Job
from .protection import Protection
from .queue_settings import MAX_BATCH, QueueSettings, from_environment
from .run import Report, process_object, retries, s3_client

DONE = {ExitCode.PROCESSED, ExitCode.SKIPPED, ExitCode.GONE}


def sqs_client(settings: QueueSettings) -> Any:
    """The queue's client; the read timeout outlasts the long poll."""
    config = BotoConfig(
        retries=retries(),
        connect_timeout=5,
        read_timeout=settings.wait_s + 15,
        max_pool_connections=settings.concurrency + 4,
    )
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return boto3.session.Session().client("sqs", region_name=region, config=config)


class QueueWorker:
    def __init__(self, settings: QueueSettings, sqs: Any = None, s3: Any = None) -> None:
        self.settings = settings
        self.sqs = sqs or sqs_client(settings)
        # Each object holds a GET stream and its uploads use the pool too.
        self.s3 = s3 or s3_client(pool=2 * settings.concurrency + 10)
        self.inflight = InFlight(settings.concurrency)
        self.protection = Protection(settings.agent_uri, settings.protection_minutes)
        self.heartbeat = Heartbeat(self.sqs, settings, self.inflight, self.protection)
        self.stop = threading.Event()
        self.stop_signal: str | None = None
        self.stop_at = 0.0
        self.threads: list[threading.Thread] = []

    # --- signals -------------------------------------------------------------------------

    def on_signal(self, number: int, frame: FrameType | None) -> None:
        del frame
        if not self.stop.is_set():
            self.stop_signal = signal.Signals(number).name
            self.stop_at = time.monotonic()
            self.stop.set()

    # --- the loop ------------------------------------------------------------------------

    def serve(self) -> int:
        s = self.settings
        log.emit(
            "queue-mode",
            queue_url=s.queue_url,
            concurrency=s.concurrency,
            visibility_s=s.visibility_s,
            stop_timeout_s=s.stop_timeout_s,
        )
        self.heartbeat.start()
        failures = 0
        while not self.stop.is_set():
            free = self.inflight.wait_free(timeout=1.0)
            if free <= 0:
                continue
            try:
                messages = self.receive(min(free, MAX_BATCH))
                failures = 0
            except (ClientError, BotoCoreError) as exc:
                failures += 1
                log.emit("receive", error=f"{type(exc).__name__}: {exc}")
                self.stop.wait(min(30.0, 2.0**failures))
                messages = []
            if self.stop.is_set():  # received after SIGTERM: give them straight back
                self.release([self.delivery(m) for m in messages], "stopping")
                break
            if messages:
                self.inflight.touch()
                self.protection.busy()
                for message in messages:
                    self.admit_safely(message)
            elif self.inflight.count() == 0:
                self.protection.idle()
                if self.idle_too_long():
                    break
        return self.shut_down()

    def receive(self, count: int) -> list[dict[str, Any]]:
        answer = self.sqs.receive_message(
            QueueUrl=self.settings.queue_url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=self.settings.wait_s,
            AttributeNames=["ApproximateReceiveCount"],
        )
        messages: list[dict[str, Any]] = answer.get("Messages", [])
        return messages

    def idle_too_long(self) -> bool:
        idle = self.settings.idle_exit_s
        quiet = time.monotonic() - self.inflight.last_activity
        if idle is None or quiet < idle:
            return False
        log.emit("stopping", reason=f"idle for {quiet:.0f} s (QUEUE_IDLE_EXIT_SECONDS)")
        return True

    @staticmethod
    def delivery(message: dict[str, Any]) -> Delivery:
        count = str(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        return Delivery(
            message_id=str(message.get("MessageId", "")),
            receipt=str(message["ReceiptHandle"]),
            receive_count=int(count) if count.isdigit() else 1,
        )

    def admit_safely(self, message: dict[str, Any]) -> None:
        """One message must never stop the loop: anything unforeseen leaves it."""
        try:
            self.admit(message)
        except Exception as exc:
            log.emit(
                "message",
                action="left",
                message_id=str(message.get("MessageId", "")),
                reason=f"worker: {type(exc).__name__}: {exc}",
            )

    def admit(self, message: dict[str, Any]) -> None:
        delivery = self.delivery(message)
        context = {"message_id": delivery.message_id, "receive_count": delivery.receive_count}
        try:
            cfg = from_event(str(message.get("Body", "")))
        except ConfigError as exc:
            Report(**context).finish(ExitCode.CONFIG, error=str(exc))
            self.leave([delivery], ExitCode.CONFIG, str(exc))
            return
        kind, job = self.inflight.admit(delivery, cfg)
        if kind != "new":
            # Already being processed by this task: processed once, answered together.
            log.emit("duplicate", kind=kind, of=job.primary.message_id, **context)
            return
        thread = threading.Thread(
            target=self.work, args=(job, cfg, context), name=f"object-{delivery.message_id}"
        )
        # Daemon: a processor still running when the stop timeout ends must not keep the
        # process alive; its message is released first (shut_down).
        thread.daemon = True
        self.threads = [t for t in self.threads if t.is_alive()]
        try:
            thread.start()
        except Exception as exc:
            # No thread (RuntimeError "can't start new thread"): a job left open would
            # hold a slot, be kept invisible by the heartbeat and keep the task protected.
            error = f"worker: {type(exc).__name__}: {exc}"
            report = Report(**context)
            report.facts.update(bucket=cfg.bucket, key=cfg.key, etag=cfg.etag_hex)
            report.finish(ExitCode.FAILED, error=error)
            self.leave(self.inflight.close(job), ExitCode.FAILED, error)
            return
        self.threads.append(thread)

    def work(self, job: Job, cfg: Config, context: dict[str, Any]) -> None:
        report = Report(**context)
        try:
            code = process_object(cfg, lambda: self.s3, report)
        except BaseException as exc:  # process_object reports everything; a last guard
            code = report.finish(ExitCode.FAILED, error=f"worker: {type(exc).__name__}: {exc}")
        deliveries = self.inflight.close(job)
        if not deliveries:
            return  # released while stopping: another task has it now
        try:
            if code in DONE:
                self.delete(deliveries, code)
            else:
                self.leave(deliveries, code, report.error or "")
        except Exception as exc:  # never a traceback: the messages come back by themselves
            log.emit("message", action="left", message_id=job.primary.message_id, reason=str(exc))

    # --- answering SQS -------------------------------------------------------------------

    def delete(self, deliveries: list[Delivery], code: ExitCode) -> None:
        for d in deliveries:
            try:
                self.sqs.delete_message(QueueUrl=self.settings.queue_url, ReceiptHandle=d.receipt)
            except (ClientError, BotoCoreError) as exc:
                # It comes back after its visibility timeout; the manifest makes it a skip.
                reason = f"{code.name.lower()}, but DeleteMessage failed: {type(exc).__name__}"
                log.emit("message", action="left", message_id=d.message_id, reason=reason)
                continue
            log.emit("message", action="deleted", message_id=d.message_id, reason=code.name.lower())

    def leave(self, deliveries: list[Delivery], code: ExitCode, error: str) -> None:
        """Not deleted: visible again after the retry delay, then retried or dead-lettered."""
        for d in deliveries:
            delay = self.settings.retry_delay_s(d.receive_count)
            reason = code.name.lower() + (f": {error}" if error else "")
            try:
                self.sqs.change_message_visibility(
                    QueueUrl=self.settings.queue_url,
                    ReceiptHandle=d.receipt,
                    VisibilityTimeout=delay,
                )
            except (ClientError, BotoCoreError) as exc:
                reason += f" (retry delay not set: {type(exc).__name__}: {exc})"
                delay = -1
            fields: dict[str, Any] = {"retry_in_s": delay} if delay >= 0 else {}
            log.emit(
                "message",
                action="left",
                message_id=d.message_id,
                receive_count=d.receive_count,
                reason=reason,
                **fields,
            )

    def release(self, deliveries: list[Delivery], reason: str) -> int:
        released = 0
        for d in deliveries:
            try:
                self.sqs.change_message_visibility(
                    QueueUrl=self.settings.queue_url, ReceiptHandle=d.receipt, VisibilityTimeout=0
                )
            except (ClientError, BotoCoreError) as exc:
                log.emit(
                    "message",
                    action="left",
                    message_id=d.message_id,
                    reason=f"{reason}; release failed ({type(exc).__name__}): visible after "
                    "its visibility timeout",
                )
                continue
            released += 1
            log.emit("message", action="released", message_id=d.message_id, reason=reason)
        return released

    # --- stopping ------------------------------------------------------------------------

    def shut_down(self) -> int:
        if self.stop_signal is not None:
            log.emit("stopping", signal=self.stop_signal, in_flight=self.inflight.count())
            budget = self.settings.stop_timeout_s - self.settings.stop_margin_s
            self.inflight.wait_empty(self.stop_at + budget - time.monotonic())
        self.heartbeat.halt.set()
        released = self.release(self.inflight.release_all(), "stopping")
        # Threads that closed their own job may be deleting or leaving its message: a
        # moment for that, not for processors still running (theirs were released).
        until = time.monotonic() + min(2.0, self.settings.stop_margin_s / 2)
        for thread in self.threads:
            thread.join(max(0.0, until - time.monotonic()))
        self.protection.idle()
        log.emit("stopped", released=released)
        return 0

    def abandoned(self) -> bool:
        """Whether a processor is still running (its message was released)."""
        return any(t.is_alive() for t in self.threads)


def serve() -> int:
    try:
        settings = from_environment()
    except ConfigError as exc:
        log.emit("queue-config", exit_code=int(ExitCode.CONFIG), error=str(exc))
        return int(ExitCode.CONFIG)
    worker = QueueWorker(settings)
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, worker.on_signal)
    code = worker.serve()
    if worker.abandoned():
        # A processor outlived the stop timeout; its message is already released. Exit
        # now rather than wait for it, and without finalising threads that still run.
        os._exit(code)
    return code
