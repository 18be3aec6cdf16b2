"""The Orchestrated state machine, as generated (golden output), run by the local runner
with scripted service answers: what gets retried, what is dead-lettered, with what."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from private_s3_processor.rules import LAUNCH_RETRY
from private_s3_processor_cli import states
from private_s3_processor_cli.states import StatesError

from tests.conftest import load_event
from tests.golden import cases

RUN = "arn:aws:states:::ecs:runTask.sync"
SEND = "arn:aws:states:::sqs:sendMessage"


def definition() -> dict[str, Any]:
    """The golden Orchestrated definition with its substitutions filled in."""
    sm = cases.expected("orchestrated")["Resources"]["InvoicesStateMachine"]["Properties"]
    text = json.dumps(sm["Definition"])
    for name, value in {
        "RunTaskSync": RUN,
        "SendMessage": SEND,
        "Cluster": "arn:aws:ecs:eu-west-1:123456789012:cluster/c",
        "TaskDefinition": "arn:aws:ecs:eu-west-1:123456789012:task-definition/s-Invoices:1",
        "Subnets": "subnet-1,subnet-2",
        "SecurityGroups": "sg-1,sg-2",
        "DeadLetterQueueUrl": "https://sqs/dlq",
    }.items():
        text = text.replace("${" + name + "}", value)
    assert "${" not in text
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def stopped(exit_code: int | None) -> str:
    container: dict[str, Any] = {"Name": "worker", "LastStatus": "STOPPED"}
    if exit_code is not None:
        container["ExitCode"] = exit_code
    return json.dumps(
        {"LastStatus": "STOPPED", "StopCode": "EssentialContainerExited", "Containers": [container]}
    )


class Script:
    """Answers RunTask from a list (an error to raise, or a result); records every call."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def call(self, resource: str, parameters: dict[str, Any]) -> Any:
        self.calls.append((resource, parameters))
        if resource == SEND:
            return {"MessageId": "m"}
        answer = self.answers.pop(0) if self.answers else {"LastStatus": "STOPPED"}
        if isinstance(answer, StatesError):
            raise answer
        return answer

    def runs(self) -> list[dict[str, Any]]:
        return [p for r, p in self.calls if r == RUN]

    def dead_letters(self) -> list[dict[str, Any]]:
        return [p["MessageBody"] for r, p in self.calls if r == SEND]


def execute(script: Script, event: dict[str, Any] | None = None) -> states.Outcome:
    waits: list[float] = []
    outcome = states.run(
        definition(),
        event or load_event("s3-object-created.json"),
        script,
        execution_id="exec-1",
        sleep=waits.append,
        rng=random.Random(7),
    )
    assert sum(waits) == pytest.approx(outcome.waited_s)
    return outcome


THROTTLED = StatesError("ECS.AmazonECSException", "Rate exceeded")
NO_CAPACITY = StatesError("AmazonECS.Unknown", '[{"reason": "Capacity is unavailable"}]')


def test_a_clean_run_succeeds_with_the_event_in_the_overrides() -> None:
    event = load_event("s3-object-created.json")
    script = Script()
    outcome = execute(script, event)
    assert outcome.status == "SUCCEEDED"
    (params,) = script.runs()
    env = {
        e["Name"]: e["Value"] for e in params["Overrides"]["ContainerOverrides"][0]["Environment"]
    }
    obj = event["detail"]["object"]
    assert env == {
        "S3_BUCKET": event["detail"]["bucket"]["name"],
        "S3_KEY": obj["key"],
        "S3_SIZE": str(obj["size"]),
        "S3_ETAG": obj["etag"],
        "S3_VERSION_ID": obj["version-id"],
    }
    vpc = params["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert vpc["Subnets"] == ["subnet-1", "subnet-2"]
    assert script.dead_letters() == []


def test_a_key_with_quotes_and_backslashes_reaches_the_task_unchanged() -> None:
    event = load_event("s3-object-created.json")
    event["detail"]["object"]["key"] = 'inbound/say "hi" \\ to {all}.csv'
    script = Script()
    assert execute(script, event).status == "SUCCEEDED"
    env = script.runs()[0]["Overrides"]["ContainerOverrides"][0]["Environment"]
    assert {e["Name"]: e["Value"] for e in env}["S3_KEY"] == 'inbound/say "hi" \\ to {all}.csv'


@pytest.mark.parametrize("error", [THROTTLED, NO_CAPACITY])
def test_launch_failures_are_retried_then_succeed(error: StatesError) -> None:
    script = Script(error, error, error)
    outcome = execute(script)
    assert outcome.status == "SUCCEEDED"
    assert len(script.runs()) == 4
    assert script.dead_letters() == []
    assert 0 < outcome.waited_s <= 2 + 4 + 8  # full jitter: at most the capped backoff


def test_launch_retries_are_bounded_then_dead_lettered_with_the_reason() -> None:
    event = load_event("s3-object-created.json")
    script = Script(*[NO_CAPACITY] * 50)
    outcome = execute(script, event)
    assert outcome.status == "FAILED" and outcome.error == "ProcessingFailed"
    assert len(script.runs()) == 1 + LAUNCH_RETRY["MaxAttempts"]
    (body,) = script.dead_letters()
    assert body == {
        "processor": "Invoices",
        "event": event,
        "error": "AmazonECS.Unknown",
        "cause": NO_CAPACITY.cause,
        "execution": "exec-1",
    }
    cap = sum(min(2 * 2**i, 60) for i in range(int(LAUNCH_RETRY["MaxAttempts"])))
    assert outcome.waited_s <= cap == 122


@pytest.mark.parametrize(
    ("exit_code", "dead_lettered"), [(10, False), (11, False), (70, True), (78, True), (None, True)]
)
def test_a_non_zero_exit_is_a_failure_except_skipped_and_gone(
    exit_code: int | None, dead_lettered: bool
) -> None:
    script = Script(StatesError("States.TaskFailed", stopped(exit_code)))
    outcome = execute(script)
    assert len(script.runs()) == 1  # a task that ran is not re-run: redrive decides
    assert (outcome.status == "FAILED") is dead_lettered
    assert len(script.dead_letters()) == int(dead_lettered)
    if dead_lettered:
        assert script.dead_letters()[0]["error"] == "States.TaskFailed"


def test_a_task_failure_without_a_task_description_is_dead_lettered() -> None:
    script = Script(StatesError("States.TaskFailed", "CannotPullContainerError: not found"))
    assert execute(script).status == "FAILED"
    assert "CannotPullContainerError" in script.dead_letters()[0]["cause"]


def test_an_event_without_the_fields_fails_visibly_instead_of_running_a_task() -> None:
    """States.Runtime is not catchable: the execution fails (ExecutionsFailed), nothing runs."""
    script = Script()
    outcome = execute(script, {"detail": {"bucket": {"name": "b"}}})
    assert outcome.status == "FAILED" and outcome.error == "States.Runtime"
    assert script.runs() == [] and script.dead_letters() == []


def test_the_runner_refuses_what_it_does_not_implement() -> None:
    broken = definition()
    broken["States"]["RunTask"]["TimeoutSeconds"] = 60
    with pytest.raises(states.Unsupported, match="TimeoutSeconds"):
        states.run(broken, load_event("s3-object-created.json"), Script())
