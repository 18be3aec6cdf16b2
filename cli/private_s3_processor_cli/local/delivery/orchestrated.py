"""``Delivery: Orchestrated`` in the local flow: the rule's target is the state machine.

StartExecution with the whole event as input, recorded by the emulator; the
definition then runs in the local runner (``stepfunctions.py``), which launches the
task with ``runTask.sync``, retries launches and dead-letters what still fails with
the reason. An execution that fails without dead-lettering loses its upload.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..model import Processor, Row
from ..stack import Deployed, state_machine_definition
from ..stepfunctions import execute, foreign_executions, start_execution
from .base import Mode


class Orchestrated(Mode):
    name = "Orchestrated"

    @staticmethod
    def owns(template: Mapping[str, Any], part: Deployed) -> bool:
        return f"{part.name}StateMachine" in template["Resources"]

    @staticmethod
    def read_back(
        aws: Mapping[str, Any],
        template: Mapping[str, Any],
        part: Deployed,
        physical: Mapping[str, str],
        values: Mapping[str, Any],
    ) -> Processor:
        machine = template["Resources"][f"{part.name}StateMachine"]
        return Processor(
            **part.fields,
            target=part.stored_target,
            network={},
            delivery=Orchestrated.name,
            state_machine=physical[f"{part.name}StateMachine"],
            definition=state_machine_definition(
                machine["Properties"], physical, values, part.registered
            ),
        )

    def play(self, p: Processor, row: Row, event: dict[str, Any]) -> None:
        execution = start_execution(self.services.aws, p, event)
        self.rows.started.add(execution)
        row.status = "running"
        self.rows.submit(self._run, p, row, event, execution)

    def _run(self, p: Processor, row: Row, event: dict[str, Any], execution: str) -> None:
        s = self.services
        outcome = execute(s.aws, s.ecs, p, row, event, execution, sleep=s.sleep, rng=s.rng)
        if outcome.status == "SUCCEEDED":
            row.outcome = "processed"
        elif row.outcome != "dead-lettered":
            row.outcome = "lost"
            row.status = f"execution failed without dead-lettering: {outcome.error} {outcome.cause}"
        self.rows.progress(f"{row.key}: execution {outcome.status.lower()} ({row.status})")

    def adopt(self, p: Processor) -> int:
        """Executions of ``p``'s state machine that this session did not start: the
        emulator records them but runs nothing; here they run as the rest do."""
        adopted = 0
        for arn, event in foreign_executions(self.services.aws, p, self.rows.started):
            self.rows.started.add(arn)
            row = self.rows.row_of(adopted_detail(event, arn), p)
            self.rows.progress(f"{row.key}: redriven, execution started in {p.logical_id}")
            self.rows.submit(self._run, p, row, event, arn)
            adopted += 1
        return adopted


def adopted_detail(event: Any, execution: str) -> dict[str, Any]:
    """The bucket, key and ETag an adopted execution's input names, for its row. A
    hand-made ``StartExecution`` may carry any JSON (none at all is ``{}``): the state
    machine dead-letters what is not an S3 event, and its row is named after the
    execution."""
    detail = event.get("detail") if isinstance(event, dict) else None
    bucket = detail.get("bucket") if isinstance(detail, dict) else None
    obj = detail.get("object") if isinstance(detail, dict) else None
    name = bucket.get("name") if isinstance(bucket, dict) else None
    key = obj.get("key") if isinstance(obj, dict) else None
    if isinstance(name, str) and isinstance(key, str) and isinstance(obj, dict):
        return {"bucket": {"name": name}, "object": {"key": key, "etag": obj.get("etag", "")}}
    named = f"(execution {execution.rsplit(':', 1)[-1]})"
    return {"bucket": {"name": ""}, "object": {"key": named, "etag": ""}}
