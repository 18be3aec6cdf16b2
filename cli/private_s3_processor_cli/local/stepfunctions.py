"""Step Functions in the emulator: the emulator records StartExecution and lists
executions; the definition runs in the local runner (``states.py``, shared with
``cost``), whose Task states call the integrations here as Step Functions documents
them: ``ecs:runTask.sync`` runs the task through ECS and waits, ``sqs:sendMessage``."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .. import states
from ..ecs_api import camel, stopped_task
from ..states import StatesError
from .ecs import Ecs
from .launches import LaunchError, failures_cause
from .model import Processor, Row


def start_execution(aws: Mapping[str, Any], p: Processor, event: dict[str, Any]) -> str:
    """The rule's target: StartExecution with the whole event as input."""
    return str(
        aws["stepfunctions"].start_execution(
            stateMachineArn=p.state_machine, input=json.dumps(event)
        )["executionArn"]
    )


def foreign_executions(
    aws: Mapping[str, Any], p: Processor, started: set[str]
) -> Iterator[tuple[str, Any]]:
    """(ARN, input) of each execution of ``p``'s state machine that ``started`` does
    not hold (``redrive`` or a hand-made StartExecution started them)."""
    # ListExecutions answers pages of 100 by default, 1000 at most (Step Functions API
    # Reference, ListExecutions): read them all.
    pages = (
        aws["stepfunctions"]
        .get_paginator("list_executions")
        .paginate(stateMachineArn=p.state_machine, PaginationConfig={"PageSize": 1000})
    )
    for execution in (e for page in pages for e in page["executions"]):
        arn = execution["executionArn"]
        if arn in started:
            continue
        described = aws["stepfunctions"].describe_execution(executionArn=arn)
        yield arn, json.loads(described["input"])


class StepFunctionsServices:
    """The integrations the state machine calls, as Step Functions documents them, on the
    emulator: ``ecs:runTask.sync`` runs the worker and waits; ``sqs:sendMessage``."""

    def __init__(self, aws: Mapping[str, Any], ecs: Ecs, p: Processor, row: Row) -> None:
        self.aws, self.ecs, self.p, self.row = aws, ecs, p, row

    def call(self, resource: str, parameters: dict[str, Any]) -> Any:
        if resource.endswith(":states:::ecs:runTask.sync"):
            return self._run_task_sync(parameters)
        if resource.endswith(":states:::sqs:sendMessage"):
            return self._send_message(parameters)
        raise states.Unsupported(f"the local flow has no integration {resource}")

    def _run_task_sync(self, parameters: dict[str, Any]) -> Any:
        p, row = self.p, self.row
        row.overrides = camel(parameters["Overrides"])
        try:
            task_arn = self.ecs.run_task(p, row, camel(parameters["NetworkConfiguration"]))
        except LaunchError as exc:
            if exc.kind == "throttling":
                raise StatesError(
                    "ECS.AmazonECSException", f"{exc} (Error Code: ThrottlingException)"
                ) from None
            raise StatesError("AmazonECS.Unknown", failures_cause(exc)) from None
        self.ecs.run(p, row)
        described = stopped_task(task_arn, p.cluster, p.task_definition, row.exit_code)
        if row.exit_code != 0:
            raise StatesError("States.TaskFailed", json.dumps(described))
        return described

    def _send_message(self, parameters: dict[str, Any]) -> Any:
        body = parameters["MessageBody"]
        self.aws["sqs"].send_message(
            QueueUrl=parameters["QueueUrl"],
            MessageBody=body if isinstance(body, str) else json.dumps(body),
        )
        self.row.outcome = "dead-lettered"
        self.row.status += (
            f", dead-lettered ({body.get('error') if isinstance(body, dict) else ''})"
        )
        return {}


def execute(
    aws: Mapping[str, Any],
    ecs: Ecs,
    p: Processor,
    row: Row,
    event: dict[str, Any],
    execution: str,
    *,
    sleep: Callable[[float], None],
    rng: random.Random,
) -> states.Outcome:
    """One execution of ``p``'s state machine on ``event``, run to its end."""
    return states.run(
        p.definition,
        event,
        StepFunctionsServices(aws, ecs, p, row),
        execution_id=execution,
        sleep=sleep,
        rng=rng,
    )
