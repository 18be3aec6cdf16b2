"""A Queued processor's dead-letter queue as the local flow reads it: which uploads the
queue's redrive policy moved there, and which messages that are no upload's event (one
typed into the queue by hand) ended there.

Reading a dead-letter queue means receiving its messages, which hides them from a
``redrive`` running at that moment in another shell: so the queue is read only when it
holds more messages than at the last look and a failed message is waiting to be found,
each message once, and made visible again at once.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..model import Ident, Processor, upload_of

SHOWN = 60  # characters of a junk message's body in its line


@dataclass
class Junk:
    """A message a worker failed because it is no upload's event."""

    processor: str
    error: str
    receives: int = 0


class DeadLetters:
    """The dead-letter queues of a session's Queued processors."""

    def __init__(self, sqs: Any, progress: Callable[[str], None]) -> None:
        self.sqs, self.progress = sqs, progress
        self.junk: dict[str, Junk] = {}  # message ID -> failed, not found dead-lettered yet
        self.dead_junk: Counter[str] = Counter()  # processor -> junk found dead-lettered
        self._said: set[str] = set()  # dead-letter messages already said to be junk
        self._held: dict[str, int] = {}  # processor -> its dead-letter queue's size

    def failed(self, name: str, line: Mapping[str, Any]) -> None:
        """A worker's ``finished`` line of a message that is no upload's event: said
        once per message, at its first receive (the later ones fail alike)."""
        message_id = str(line.get("message_id") or "?")
        junk = self.junk.get(message_id)
        if junk is None:
            junk = self.junk[message_id] = Junk(name, str(line.get("error") or "").strip())
            self.progress(
                f"{name}: message {message_id} is not an upload's event ({junk.error}); "
                "the queue's redrive policy moves it to the dead-letter queue"
            )
        junk.receives += 1

    def waiting(self, name: str) -> bool:
        """Whether a junk message of processor ``name`` failed and was not found yet."""
        return any(j.processor == name for j in self.junk.values())

    def rose(self, p: Processor) -> bool:
        """Whether ``p``'s dead-letter queue holds more than at the last look (visible or
        being received, as ``redrive`` may hold some)."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=p.dead_letter_queue,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        held = sum(int(v) for v in attributes.values())
        before, self._held[p.logical_id] = self._held.get(p.logical_id, 0), held
        return held > before

    def find(self, p: Processor, dead: Callable[[Ident], None]) -> None:
        """Each message of ``p``'s dead-letter queue read once, then made visible again
        (for ``redrive``): an upload's event goes to ``dead``; a message that is none is
        said in one line, once."""
        seen: dict[str, dict[str, Any]] = {}
        while True:
            answer = self.sqs.receive_message(
                QueueUrl=p.dead_letter_queue, MaxNumberOfMessages=10, VisibilityTimeout=30
            )
            fresh = [m for m in answer.get("Messages", []) if m["MessageId"] not in seen]
            if not fresh:
                break
            seen.update((m["MessageId"], m) for m in fresh)
        # Visible again before anything is said: whoever acts on the line finds them.
        for m in seen.values():
            self.sqs.change_message_visibility(
                QueueUrl=p.dead_letter_queue, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
            )
        for message_id, m in seen.items():
            # A worker's failure says what it was (a body may look like an event and
            # still be none); else the body does.
            ident = None if message_id in self.junk else ident_of(m["Body"])
            if ident is not None:
                dead(ident)
            elif message_id not in self._said:
                self._junk_found(p.logical_id, message_id, m["Body"])

    def _junk_found(self, name: str, message_id: str, body: str) -> None:
        # SQS moves the message itself, its ID with it (a FIFO dead-letter queue even takes
        # that ID for the deduplication ID: SQS developer guide, "Learn how to configure a
        # dead-letter queue redrive in Amazon SQS"); moto keeps it too.
        self._said.add(message_id)
        self.dead_junk[name] += 1
        junk = self.junk.pop(message_id, None)
        how = (
            f"dead-lettered after {junk.receives} receives" if junk else "in the dead-letter queue"
        )
        shown = json.dumps(body[:SHOWN] + ("…" if len(body) > SHOWN else ""), ensure_ascii=False)
        self.progress(
            f"{name}: message {message_id} (not an upload's event: {shown}) {how}; "
            "redrive leaves it there"
        )

    def notes(self, name: str) -> list[str]:
        """The summary's line about ``name``'s junk messages, if it had any."""
        n = self.dead_junk[name]
        if not n:
            return []
        that, them = ("message that was", "it") if n == 1 else ("messages that were", "them")
        return [f"{name}: {n} {that} no upload's event dead-lettered; redrive leaves {them} there"]


def ident_of(body: str) -> Ident | None:
    """The upload an event names, or None for a body that is no such event."""
    try:
        return upload_of(json.loads(body)["detail"])
    except (ValueError, KeyError, TypeError, RecursionError):
        return None
