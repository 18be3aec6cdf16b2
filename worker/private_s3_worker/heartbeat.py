"""The visibility heartbeat: keeps the messages of objects in flight hidden from other tasks.

Each message's visibility is set back to the full QUEUE_VISIBILITY_TIMEOUT once half of it
has passed since its receipt or its last extension. The other half is the slack: a
ChangeMessageVisibility that fails is logged and tried again on every tick (a tenth of
the timeout, 0.2 to 5 s) until the message would be visible, and the object goes on
meanwhile. SQS keeps a message invisible at most 12 hours after its receipt (Amazon SQS
API Reference, ChangeMessageVisibility), so the last extension stops there; the message
may then reach another task, whose run finds the manifest or redoes the same outputs.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from . import log
from .inflight import InFlight, Job
from .protection import Protection
from .queue_settings import MAX_VISIBILITY_S, QueueSettings


class Heartbeat(threading.Thread):
    def __init__(
        self, sqs: Any, settings: QueueSettings, inflight: InFlight, protection: Protection
    ) -> None:
        super().__init__(name="heartbeat", daemon=True)
        self.sqs = sqs
        self.settings = settings
        self.inflight = inflight
        self.protection = protection
        self.tick_s = min(5.0, max(0.2, settings.visibility_s / 10))
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.tick_s):
            try:
                self.beat()
            except Exception as exc:  # the heartbeat must outlive anything it meets
                log.emit("heartbeat", error=f"{type(exc).__name__}: {exc}")

    def beat(self) -> None:
        for job in self.inflight.jobs():
            if time.monotonic() - job.extended_at >= self.settings.heartbeat_after_s:
                self.extend(job)
        self.protection.renew()

    def extend(self, job: Job) -> None:
        with job.lock:
            if job.closed:  # deleted, left or released meanwhile: never hide it again
                return
            now = time.monotonic()
            extended = True
            for delivery in job.deliveries:
                # At most 12 hours of visibility since the receipt (one second kept back
                # for the time the request takes).
                left = int(MAX_VISIBILITY_S - (now - delivery.received_at)) - 1
                timeout = min(self.settings.visibility_s, left)
                if timeout <= 0:
                    continue
                try:
                    self.sqs.change_message_visibility(
                        QueueUrl=self.settings.queue_url,
                        ReceiptHandle=delivery.receipt,
                        VisibilityTimeout=timeout,
                    )
                except (ClientError, BotoCoreError) as exc:
                    extended = False
                    log.emit(
                        "heartbeat",
                        message_id=delivery.message_id,
                        error=f"{type(exc).__name__}: {exc}",
                    )
                    continue
                log.emit("heartbeat", message_id=delivery.message_id, visibility_s=timeout)
            if extended:
                job.extended_at = now
