"""``Delivery: Queued`` in the local flow: the rule's target is the processor's SQS queue.

What is real, in the emulator: the queue with its redrive policy to the dead-letter
queue, the event sent to it as EventBridge's SQS target sends it (the whole event as
the message body), the worker processes in queue mode that receive, process, delete or
leave each message, and the protection they set. What is simulated: the alarms and the
scaling they drive (``service.py``, on the session's simulated clock), and the
account's launch quota. Each worker's JSON lines say what happened to each upload;
a message the redrive policy moved is found in the dead-letter queue.
"""

from __future__ import annotations

import json
import queue
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from ..agent import Agent
from ..autoscaling import Resolver, scaling_as_written
from ..model import LocalError, Processor, Row, upload_of
from ..service import PUBLISHED, Service
from ..stack import Deployed
from .base import Mode
from .dead_letters import DeadLetters

DONE = ("processed", "skipped", "gone")  # the worker deletes the message after these
LOST_AFTER_S = 5.0  # real seconds of an empty queue before an upload without outcome is lost


class Queued(Mode):
    name = "Queued"

    @staticmethod
    def owns(template: Mapping[str, Any], part: Deployed) -> bool:
        logical = _queue_of(part.written_target)
        resource = template["Resources"].get(logical) if logical else None
        return isinstance(resource, dict) and resource.get("Type") == "AWS::SQS::Queue"

    @staticmethod
    def read_back(
        aws: Mapping[str, Any],
        template: Mapping[str, Any],
        part: Deployed,
        physical: Mapping[str, str],
        values: Mapping[str, Any],
    ) -> Processor:
        queue_logical = str(_queue_of(part.written_target))
        service = f"{part.name}Service"  # the macro's logical ID (a public interface)
        if template["Resources"].get(service, {}).get("Type") != "AWS::ECS::Service":
            raise LocalError(f"processor {part.name}: Queued, but no ECS service {service}")
        resolve = Resolver(aws, template, physical, values)
        written = template["Resources"][service]["Properties"]["NetworkConfiguration"]
        vpc = resolve(written["AwsvpcConfiguration"])
        scaler = scaling_as_written(aws, template, physical, values, service)
        # moto delivers the rule's events to an SQS target itself, with its ETag field
        # named ``eTag`` (AWS documents ``etag``): the flow sends the documented event
        # from the tap instead (``play``), so the emulator's rule keeps no target.
        aws["events"].remove_targets(Rule=part.rule_name, Ids=[part.stored_target["Id"]])
        unknown = {(ns, n) for ns, n, _ in scaler.metrics} - set(PUBLISHED)
        if unknown:
            raise LocalError(
                f"processor {part.name}: its alarms read metrics the local "
                f"flow does not publish: {sorted(unknown)}"
            )
        return Processor(
            **part.fields,
            target=part.stored_target,
            network={
                "awsvpcConfiguration": {
                    "subnets": vpc["Subnets"],
                    "securityGroups": vpc["SecurityGroups"],
                    "assignPublicIp": vpc.get("AssignPublicIp", "DISABLED"),
                }
            },
            delivery=Queued.name,
            queue=physical[queue_logical],
            service=resolve.get_att(service, "Name"),
            scaler=scaler,
        )

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.services_of: dict[str, Service] = {}
        self.lines: queue.Queue[tuple[str, str, dict[str, Any]]] = queue.Queue()
        self.pending: dict[tuple[str, str, str], Row] = {}  # played, no outcome yet
        self.known: dict[tuple[str, str, str], Row] = {}  # every row this mode played
        self.failed: set[tuple[str, str, str]] = set()  # pending rows that failed once
        self.redriven = 0  # messages seen again after they were dead-lettered
        # Each worker outcome per upload ((bucket, key, ETag), outcome): duplicates show.
        self.outcomes: Counter[tuple[tuple[str, str, str], str]] = Counter()
        self.exits: dict[str, int] = {}
        self._agent: Agent | None = None
        self.dead = DeadLetters(self.services.aws["sqs"], self.rows.progress)
        self._empty_since: dict[str, float] = {}

    def _service(self, p: Processor) -> Service:
        """The processor's service, scaling from the first event on."""
        if p.logical_id not in self.services_of:
            s = self.services
            if self._agent is None:
                self._agent = Agent(time.monotonic)
            self.services_of[p.logical_id] = Service(
                p,
                s.ecs,
                self._agent,
                lambda task, line: self.lines.put((p.logical_id, task, line)),
                self.rows.progress,
                s.clock,
                s.time_scale,
            )
            self.rows.progress(
                f"{p.logical_id}: service {p.service} scaling from 0 tasks, as deployed: "
                + _policies(self.services_of[p.logical_id])
            )
        return self.services_of[p.logical_id]

    def play(self, p: Processor, row: Row, event: dict[str, Any]) -> None:
        """What EventBridge's SQS target does: the event, whole, as the message body."""
        service = self._service(p)
        self.services.aws["sqs"].send_message(QueueUrl=p.queue, MessageBody=json.dumps(event))
        service.arrived()
        ident = upload_of(event["detail"])
        row.status = "queued"
        self.pending[ident] = self.known[ident] = row

    def adopt(self, p: Processor) -> int:
        """Messages ``redrive`` put back on the queue are the running service's work;
        returns how many of them the workers reported since the last call."""
        self._service(p)
        self._take_lines()
        # While `local` serves: say what the redrive policy has just moved.
        failed = any(
            self.pending[i].processor == p.logical_id for i in self.failed & set(self.pending)
        )
        if self.dead.rose(p) and (failed or self.dead.waiting(p.logical_id)):
            self._find_dead_letters(p)
        seen, self.redriven = self.redriven, 0
        return seen

    def busy(self) -> bool:
        self._take_lines()
        busy = False
        for name, service in self.services_of.items():
            mine = {i for i in self.pending if self.pending[i].processor == name}
            visible, in_flight = service.depth()
            if visible and service.stalled():
                self._unserved(service, mine)
                continue
            if visible or in_flight:
                self._empty_since.pop(name, None)
                busy = True
                continue
            if mine & self.failed or self.dead.waiting(name):
                self._find_dead_letters(service.p)
                mine = {i for i in mine if i in self.pending}
            if mine:
                busy = self._unaccounted(name, mine) or busy
        return busy

    def _unserved(self, service: Service, left: set[tuple[str, str, str]]) -> None:
        """Uploads waiting in a queue no task could be launched for (every launch refused
        for STALLED_S simulated seconds): on AWS they would wait there, the service
        trying, until the queue's retention; here the run ends with them not processed."""
        refused = ", ".join(f"{n} {k}" for k, n in sorted(service.launches.items()))
        for ident in left:
            row = self.pending.pop(ident)
            row.outcome = "lost"
            row.status = (
                f"not processed: still in the queue; no task could launch ({refused}); on "
                "AWS it waits there, the service retrying, until the queue's retention"
            )
            self.rows.progress(f"{row.key}: {row.status}")

    def _unaccounted(self, name: str, left: set[tuple[str, str, str]]) -> bool:
        """Uploads without an outcome while the queue is empty: their lines may still be
        on the way; after LOST_AFTER_S they are in neither queue, so lost."""
        since = self._empty_since.setdefault(name, time.monotonic())
        if time.monotonic() - since < LOST_AFTER_S:
            return True
        for ident in left:
            row = self.pending.pop(ident)
            row.outcome = "lost"
            row.status = "lost: in neither the queue nor its dead-letter queue"
            self.rows.progress(f"{row.key}: {row.status}")
        return False

    def _find_dead_letters(self, p: Processor) -> None:
        """The messages the redrive policy moved (``dead_letters.py``)."""
        self.dead.find(p, self._dead_lettered)

    def _dead_lettered(self, ident: tuple[str, str, str]) -> None:
        row = self.pending.get(ident)
        if row is not None and ident in self.failed:
            del self.pending[ident]
            row.outcome = "dead-lettered"
            row.status = f"dead-lettered after {row.runs} receives ({row.status})"
            self.rows.progress(f"{row.key}: {row.status}")

    def _take_lines(self) -> None:
        """The workers' lines so far, applied to the rows (on the session's thread)."""
        while True:
            try:
                name, task, line = self.lines.get_nowait()
            except queue.Empty:
                return
            event = line.get("event")
            if event == "finished":
                self._finished(name, line)
            elif event == "exited":
                self.exits[task] = int(line["exit_code"])
                if line["exit_code"] != 0:
                    tail = " | ".join(line.get("stderr", [])[-3:])
                    self.rows.progress(f"{name}: task {task} exited {line['exit_code']}: {tail}")

    def _finished(self, name: str, line: dict[str, Any]) -> None:
        if not isinstance(line.get("key"), str):  # a message that is no upload's event
            self.dead.failed(name, line)
            return
        ident = (
            str(line.get("bucket")),
            str(line.get("key")),
            str(line.get("etag", "")).strip('"'),
        )
        row = self.pending.get(ident)
        if row is None:
            # Seen again after its outcome (a duplicate delivery) or never played here (a
            # message redrive put back): a redriven row unless it was done already.
            done = self.known.get(ident)
            if done is not None and done.outcome == "processed":
                done.runs += 1
                self.outcomes[ident, str(line.get("outcome"))] += 1
                return
            row = self.rows.row_of(
                {"bucket": {"name": ident[0]}, "object": {"key": ident[1], "etag": ident[2]}},
                self.services_of[name].p,
            )
            self.redriven += 1
            self.pending[ident] = self.known[ident] = row
        outcome = str(line.get("outcome"))
        self.outcomes[ident, outcome] += 1
        row.runs += 1
        row.exit_code = line.get("exit_code")
        row.duration_s = line.get("duration_s")
        if outcome in DONE:
            row.outcome, row.status = "processed", outcome
            row.outputs = list(line.get("outputs") or [])
            del self.pending[ident]
            self.failed.discard(ident)
        else:
            row.status = f"{outcome}: {line.get('error', '')}".rstrip(": ")
            self.failed.add(ident)
        again = "redriven, " if row.redriven else ""
        self.rows.progress(f"{row.key}: {again}{row.status} (receive {line.get('receive_count')})")

    def close(self) -> list[str]:
        notes = []
        for name, service in self.services_of.items():
            codes = service.close()
            self._take_lines()
            exits = sorted({str(c) for c in codes.values()})
            idle = _idle_seconds(service)
            # What the agent endpoint recorded (the PUTs), not what the workers say.
            recorded = self._agent.log if self._agent else []
            mine = [on for task, on in recorded if task in codes]
            notes.append(
                f"{name}: {len(codes)} task(s) ran, desired count at most {service.peak}; "
                f"scale-in protection set {mine.count(True)} times, cleared "
                f"{mine.count(False)}; stopped with SIGTERM at the end, exit "
                f"{', '.join(exits) or '-'}; on AWS the service scales to zero itself after "
                f"{idle} with nothing visible or in flight"
            )
            notes += self.dead.notes(name)
        if self._agent is not None:
            self._agent.close()
        return notes


def _queue_of(target: Mapping[str, Any]) -> str | None:
    """The logical ID of the resource whose ``Arn`` the rule's target names."""
    arn = target.get("Arn")
    named = arn.get("Fn::GetAtt") if isinstance(arn, dict) else None
    if isinstance(named, str):
        return named.split(".")[0]
    return str(named[0]) if isinstance(named, list) and named else None


def _policies(service: Service) -> str:
    """The step adjustments read back from the emulator, as ``[lower, upper)->count``
    (bounds relative to the alarm's threshold)."""
    said = []
    for policy in service.scaler.policies.values():
        steps = " ".join(
            f"[{step.lower:g}, {step.upper:g})->{step.adjustment}" for step in policy.steps
        )
        said.append(f"{policy.name} ({policy.adjustment_type}) {steps}")
    return "; ".join(said)


def _idle_seconds(service: Service) -> str:
    """How long the scale-in alarm waits (its evaluation periods of a minute), from the
    alarms read back."""
    periods = [a.periods for a in service.scaler.alarms if a.compare.startswith("LessThan")]
    return f"{max(periods) * 60} s (IdleSeconds)" if periods else "IdleSeconds"
