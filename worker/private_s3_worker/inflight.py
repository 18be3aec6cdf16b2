"""What one task holds: the messages it received and has not yet deleted, left or released.

A message is delivered at least once. A second delivery of a message this task is working
on (same MessageId: SQS delivered it again) only refreshes the receipt handle, since
SQS deletes or changes a message by its most recent handle (Amazon SQS Developer Guide,
"Amazon SQS visibility timeout" and the DeleteMessage API reference). A second message
about the same object (EventBridge delivers at least once too: another MessageId, the
same bucket, key, ETag and version) rides along with the job already working on that
object and shares its outcome. Either way the object is processed once.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from .config import Config

ObjectId = tuple[str, str, str, str | None]


def object_id(cfg: Config) -> ObjectId:
    return (cfg.bucket, cfg.key, cfg.etag, cfg.version_id)


@dataclass
class Delivery:
    """One message as received."""

    message_id: str
    receipt: str  # the most recent receipt handle
    receive_count: int
    received_at: float = field(default_factory=time.monotonic)


@dataclass(eq=False)
class Job:
    """One object being processed, and every message it answers."""

    deliveries: list[Delivery]
    obj: ObjectId
    extended_at: float = field(default_factory=time.monotonic)
    closed: bool = False
    # Held while the heartbeat changes this job's visibility and while the job is closed,
    # so that no extension lands after the final delete, leave or release.
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def primary(self) -> Delivery:
        return self.deliveries[0]


class InFlight:
    """The jobs of one task, thread-safe."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._cond = threading.Condition()
        self._by_object: dict[ObjectId, Job] = {}
        self._by_message: dict[str, Job] = {}
        self.last_activity = time.monotonic()

    def admit(self, delivery: Delivery, cfg: Config) -> tuple[str, Job]:
        """``("new", job)`` to start; ``("redelivered" | "rider", job)`` when a job of
        this task already answers for this message or this object."""
        with self._cond:
            self.last_activity = time.monotonic()
            job = self._by_message.get(delivery.message_id)
            if job is not None:
                with job.lock:
                    for held in job.deliveries:
                        if held.message_id == delivery.message_id:
                            held.receipt = delivery.receipt
                            held.receive_count = delivery.receive_count
                return "redelivered", job
            job = self._by_object.get(object_id(cfg))
            if job is not None:
                with job.lock:
                    job.deliveries.append(delivery)
                self._by_message[delivery.message_id] = job
                return "rider", job
            job = Job([delivery], object_id(cfg))
            self._by_object[job.obj] = job
            self._by_message[delivery.message_id] = job
            return "new", job

    def close(self, job: Job) -> list[Delivery]:
        """The job is done: its deliveries, for the final delete or leave; none if it
        was already released (the task is stopping and gave it back)."""
        with self._cond:
            with job.lock:
                if job.closed:
                    return []
                job.closed = True
                deliveries = list(job.deliveries)
            self._drop(job)
            self._cond.notify_all()
            return deliveries

    def release_all(self) -> list[Delivery]:
        """Close every job still open (stopping): their deliveries, to make visible."""
        with self._cond:
            released: list[Delivery] = []
            for job in list(self._by_object.values()):
                with job.lock:
                    job.closed = True
                    released.extend(job.deliveries)
                self._drop(job)
            self._cond.notify_all()
            return released

    def _drop(self, job: Job) -> None:
        self._by_object.pop(job.obj, None)
        for delivery in job.deliveries:
            self._by_message.pop(delivery.message_id, None)
        self.last_activity = time.monotonic()

    def touch(self) -> None:
        """Something was received (an event or not): the task is not idle."""
        with self._cond:
            self.last_activity = time.monotonic()

    def jobs(self) -> list[Job]:
        with self._cond:
            return list(self._by_object.values())

    def count(self) -> int:
        with self._cond:
            return len(self._by_object)

    def wait_free(self, timeout: float) -> int:
        """Free slots, waiting up to ``timeout`` for one when all are taken."""
        with self._cond:
            self._cond.wait_for(lambda: len(self._by_object) < self.capacity, timeout)
            return self.capacity - len(self._by_object)

    def wait_empty(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self._by_object, max(timeout, 0.0))
