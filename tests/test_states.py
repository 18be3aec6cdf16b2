"""The Orchestrated state machine, as generated (golden output), run by the local runner
with scripted service answers: what gets retried, what is dead-lettered, with what."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from private_s3_processor.rules import LAUNCH_DELAYS_S, LAUNCH_RETRIES
from private_s3_processor_cli import states
from private_s3_processor_cli.definitions import definition_of
from private_s3_processor_cli.ecs_api import CAPACITY_REASON
from private_s3_processor_cli.states import StatesError

from tests.conftest import load_event
from tests.golden import cases

RUN = "arn:aws:states:::ecs:runTask.sync"
SEND = "arn:aws:states:::sqs:sendMessage"


def definition() -> dict[str, Any]:
    """The golden Orchestrated definition with its substitutions filled in."""
    sm = cases.expected("orchestrated")["Resources"]["InvoicesStateMachine"]["Properties"]
    text = json.dumps(definition_of(sm))
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


def stopped(
    exit_code: int | None,
    stop_code: str = "EssentialContainerExited",
    reason: str = "Essential container in task exited",
) -> str:
    """The cause .sync gives a stopped task: its DescribeTasks description, PascalCase."""
    container: dict[str, Any] = {"Name": "worker", "LastStatus": "STOPPED"}
    if exit_code is not None:
        container["ExitCode"] = exit_code
    return json.dumps(
        {
            "LastStatus": "STOPPED",
            "StopCode": stop_code,
            "StoppedReason": reason,
            "Containers": [container],
        }
    )


def never_started(reason: str) -> StatesError:
    return StatesError("States.TaskFailed", stopped(None, "TaskFailedToStart", reason))


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


SAMPLE = object()  # the sample S3 event (None is an execution input of its own)


def execute(
    script: Script, event: Any = SAMPLE, waits: list[float] | None = None
) -> states.Outcome:
    """Run the golden definition; every wait goes through ``sleep`` (into ``waits``)."""
    waits = [] if waits is None else waits
    outcome = states.run(
        definition(),
        load_event("s3-object-created.json") if event is SAMPLE else event,
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
    assert len(script.runs()) == 1 + LAUNCH_RETRIES
    (body,) = script.dead_letters()
    assert body == {
        "processor": "Invoices",
        "event": event,
        "error": "AmazonECS.Unknown",
        "cause": NO_CAPACITY.cause,
        "execution": "exec-1",
    }
    cap = sum(min(2 * 2**i, 60) for i in range(LAUNCH_RETRIES))
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


def test_the_runner_refuses_what_it_does_not_implement() -> None:
    broken = definition()
    broken["States"]["RunTask"]["TimeoutSeconds"] = 60
    with pytest.raises(states.Unsupported, match="TimeoutSeconds"):
        states.run(broken, load_event("s3-object-created.json"), Script())


# --- Transient launch problems that share their error name with permanent ones --------

# StoppedReason of tasks ECS stopped with StopCode TaskFailedToStart (ECS developer guide,
# "Amazon ECS stopped task error codes"), one per kind the brief names.
NEVER_STARTED = [
    "ResourceInitializationError: unable to pull secrets or registry auth: execution "
    "resource retrieval failed: unable to retrieve ecr registry auth: service call has been "
    "retried 3 time(s): RequestError: send request failed",
    "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to "
    "resolve ref 123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker:1: i/o timeout",
    "Timeout waiting for network interface provisioning to complete.",
    CAPACITY_REASON,
]


@pytest.mark.parametrize("reason", NEVER_STARTED)
def test_a_task_that_never_started_is_retried_with_backoff_then_dead_lettered(
    reason: str,
) -> None:
    waits: list[float] = []
    script = Script(*[never_started(reason)] * 50)
    outcome = execute(script, waits=waits)
    assert outcome.status == "FAILED" and outcome.error == "ProcessingFailed"
    assert len(script.runs()) == 1 + LAUNCH_RETRIES
    # One wait before each retry, each a whole number of seconds within its cap.
    assert len(waits) == LAUNCH_RETRIES
    assert all(w == int(w) and 0 <= w <= cap for w, cap in zip(waits, LAUNCH_DELAYS_S, strict=True))
    assert LAUNCH_DELAYS_S == (2, 4, 8, 16, 32, 60)
    (body,) = script.dead_letters()
    assert body["error"] == "States.TaskFailed"
    task = json.loads(body["cause"])
    assert (task["StopCode"], task["StoppedReason"]) == ("TaskFailedToStart", reason)


def test_a_task_that_starts_on_a_later_attempt_is_processed() -> None:
    script = Script(never_started(NEVER_STARTED[0]), never_started(NEVER_STARTED[1]))
    outcome = execute(script)
    assert outcome.status == "SUCCEEDED"
    assert len(script.runs()) == 3 and script.dead_letters() == []
    assert outcome.attempts == {"RunTask": 3}


def test_all_launch_problems_share_one_budget() -> None:
    """Mixed causes do not each get their own retries: 7 attempts in all."""
    mixed = [THROTTLED, never_started(NEVER_STARTED[2]), NO_CAPACITY] * 10
    script = Script(*mixed)
    outcome = execute(script)
    assert outcome.status == "FAILED"
    assert len(script.runs()) == 1 + LAUNCH_RETRIES
    assert outcome.waited_s <= sum(LAUNCH_DELAYS_S) == 122


# ECS's answers when EC2 throttles its subnet/security-group look-up (rules.py cites the
# public reports they come from), as Step Functions reports them.
THROTTLED_LOOKUPS = [
    "Error retrieving subnet information for [subnet-1]: Rate exceeded (ErrorCode: "
    "Throttling) (Service: AmazonECS; Status Code: 400; Error Code: "
    "InvalidParameterException)",
    "Error retrieving security group information for [sg-1]: Request limit exceeded. "
    "(ErrorCode: RequestLimitExceeded) (Service: AmazonECS; Status Code: 400; Error Code: "
    "InvalidParameterException)",
]


@pytest.mark.parametrize("cause", THROTTLED_LOOKUPS)
def test_a_throttled_network_lookup_is_retried(cause: str) -> None:
    script = Script(StatesError("ECS.InvalidParameterException", cause))
    outcome = execute(script)
    assert outcome.status == "SUCCEEDED"
    assert len(script.runs()) == 2 and script.dead_letters() == []


def test_a_genuine_invalid_parameter_is_dead_lettered_at_once() -> None:
    cause = (
        "Error retrieving subnet information for [subnet-1]: The subnet ID 'subnet-1' does "
        "not exist (ErrorCode: InvalidSubnetID.NotFound)"
    )
    script = Script(*[StatesError("ECS.InvalidParameterException", cause)] * 5)
    outcome = execute(script)
    assert outcome.status == "FAILED" and outcome.waited_s == 0
    assert len(script.runs()) == 1
    (body,) = script.dead_letters()
    assert (body["error"], body["cause"]) == ("ECS.InvalidParameterException", cause)


# --- Inputs the state machine must not fail on -------------------------------------------


def environment(params: dict[str, Any]) -> dict[str, Any]:
    env = params["Overrides"]["ContainerOverrides"][0]["Environment"]
    return {e["Name"]: e["Value"] for e in env}


def test_an_event_without_a_version_runs_with_an_empty_version() -> None:
    """Versioning suspended by hand: no version-id in the event; the worker reads "" as none."""
    event = load_event("s3-object-created.json")
    del event["detail"]["object"]["version-id"]
    script = Script()
    outcome = execute(script, event)
    assert outcome.status == "SUCCEEDED"
    (params,) = script.runs()
    assert environment(params)["S3_VERSION_ID"] == ""
    assert environment(params)["S3_KEY"] == event["detail"]["object"]["key"]


def _event(**changes: Any) -> dict[str, Any]:
    event = load_event("s3-object-created.json")
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = event
        for name in parents:
            node = node[name]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value
    return event


_DELETE = object()


@pytest.mark.parametrize(
    ("execution_input", "error"),
    [
        ({}, "EventFieldMissing"),
        ({"detail": {"bucket": {"name": "b"}}}, "EventFieldMissing"),
        ({"detail": "x"}, "EventFieldMissing"),
        ([1, 2], "EventFieldMissing"),
        ("an S3 event", "EventFieldMissing"),
        (None, "EventFieldMissing"),
        (_event(detail__object__etag=_DELETE), "EventFieldMissing"),
        (_event(detail__object__size="48213"), "EventFieldInvalid"),
        (_event(detail__object__key=["a", "b"]), "EventFieldInvalid"),
        (_event(detail__object__size=True), "EventFieldInvalid"),
        (_event(detail__bucket__name=None), "EventFieldInvalid"),
        (_event(**{"detail__object__version-id": 7}), "EventFieldInvalid"),
        (_event(launch={"attempt": "x"}), "EventFieldReserved"),
    ],
)
def test_a_hand_made_input_without_the_fields_is_dead_lettered_not_failed(
    execution_input: Any, error: str
) -> None:
    """What used to raise the uncatchable States.Runtime (ending FAILED with nothing in
    the dead-letter queue) is now dead-lettered with a named error, and nothing runs."""
    script = Script()
    outcome = execute(script, execution_input)
    assert outcome.status == "FAILED" and outcome.error == "ProcessingFailed"
    assert script.runs() == []
    (body,) = script.dead_letters()
    assert body["error"] == error and body["event"] == execution_input


# --- Property: every execution ends processed or dead-lettered -------------------------

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
_PATHS = [
    ("detail",),
    ("detail", "bucket"),
    ("detail", "bucket", "name"),
    ("detail", "object"),
    ("detail", "object", "key"),
    ("detail", "object", "size"),
    ("detail", "object", "etag"),
    ("detail", "object", "version-id"),
    ("launch",),
]


@st.composite
def _mutated_events(draw: st.DrawFn) -> Any:
    """The sample S3 event with some fields deleted or replaced by arbitrary JSON."""
    event: Any = load_event("s3-object-created.json")
    for path in draw(st.lists(st.sampled_from(_PATHS), max_size=4)):
        node = event
        for name in path[:-1]:
            node = node.get(name) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue
        if draw(st.booleans()):
            node.pop(path[-1], None)
        else:
            node[path[-1]] = draw(_JSON)
    return event


_ANSWERS = st.sampled_from(
    [
        {"LastStatus": "STOPPED"},
        THROTTLED,
        NO_CAPACITY,
        StatesError("ECS.InvalidParameterException", THROTTLED_LOOKUPS[0]),
        StatesError("ECS.InvalidParameterException", "Invalid subnet"),
        never_started(NEVER_STARTED[1]),
        StatesError("States.TaskFailed", stopped(11)),
        StatesError("States.TaskFailed", stopped(70)),
        StatesError("States.TaskFailed", stopped(None)),
        StatesError("States.TaskFailed", "not a task description"),
        StatesError("States.Timeout", ""),
        StatesError("ECS.AccessDeniedException", "not authorized"),
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    execution_input=_JSON | _mutated_events(),
    answers=st.lists(_ANSWERS, max_size=10),
)
def test_every_execution_ends_processed_or_dead_lettered(
    execution_input: Any, answers: list[Any]
) -> None:
    script = Script(*answers)
    outcome = execute(script, execution_input)
    if outcome.status == "SUCCEEDED":
        assert script.runs() and script.dead_letters() == []
    else:
        assert (outcome.status, outcome.error) == ("FAILED", "ProcessingFailed"), outcome
        (body,) = script.dead_letters()
        assert body["event"] == execution_input
        assert isinstance(body["error"], str) and isinstance(body["cause"], str)
    assert len(script.runs()) <= 1 + LAUNCH_RETRIES
    for params in script.runs():  # what ECS accepts: string values only
        assert all(isinstance(v, str) for v in environment(params).values())


# --- The runner itself, on small definitions ---------------------------------------------


def _one(state: dict[str, Any], execution_input: Any = None) -> states.Outcome:
    """Run a definition of one state (then Succeed), recording the waits."""
    state = {**state, "Next": "Done"} if state["Type"] != "Choice" else state
    definition = {"StartAt": "S", "States": {"S": state, "Done": {"Type": "Succeed"}}}
    waits: list[float] = []
    outcome = states.run(definition, execution_input, Script(), sleep=waits.append)
    assert sum(waits) == outcome.waited_s
    return outcome


def test_pass_result_and_intrinsics_as_documented() -> None:
    outcome = _one(
        {
            "Type": "Pass",
            "Parameters": {
                "sum.$": "States.MathAdd($.n, -1)",
                "item.$": "States.ArrayGetItem(States.Array(2, 4, 8), $.n)",
                "nested.$": "States.MathRandom(0, States.MathAdd("
                "States.ArrayGetItem(States.Array(2, 4, 8), $.n), 1))",
                "split.$": "States.StringSplit('a,b+c', ',+')",
                "text.$": "States.Format('it\\'s {} \\{x\\}', $.n)",
            },
        },
        {"n": 1},
    )
    assert outcome.status == "SUCCEEDED"
    out = outcome.output
    assert (out["sum"], out["item"], out["split"], out["text"]) == (
        0,
        4,
        ["a", "b", "c"],
        "it's 1 {x}",
    )
    assert 0 <= out["nested"] <= 4
    passed = _one({"Type": "Pass", "Result": {"attempt": 0}, "ResultPath": "$.launch"}, {"a": 1})
    assert passed.output == {"a": 1, "launch": {"attempt": 0}}


def test_math_random_covers_start_to_end_exclusive() -> None:
    seen = {
        _one({"Type": "Pass", "Parameters": {"r.$": "States.MathRandom(0, 3)"}}).output["r"]
        for _ in range(200)
    }
    assert seen == {0, 1, 2}


@pytest.mark.parametrize(
    "expression",
    [
        "States.MathRandom(3, 3)",
        "States.ArrayGetItem(States.Array(1, 2), 2)",
        "States.MathAdd(2147483647, 1)",
        "States.MathAdd('1', 1)",
        "States.StringToJson('{not json')",
        "States.Format('{} {}', 1)",
        "States.MathAdd($.missing, 1)",
    ],
)
def test_a_failing_intrinsic_is_an_uncaught_runtime_error(expression: str) -> None:
    outcome = _one({"Type": "Pass", "Parameters": {"x.$": expression}}, {})
    assert (outcome.status, outcome.error) == ("FAILED", "States.Runtime")


@pytest.mark.parametrize(
    ("seconds", "status"),
    [(0, "SUCCEEDED"), (7, "SUCCEEDED"), (2.5, "FAILED"), ("7", "FAILED"), (-1, "FAILED")],
)
def test_wait_seconds_path_takes_whole_seconds_through_sleep(seconds: Any, status: str) -> None:
    outcome = _one({"Type": "Wait", "SecondsPath": "$.s"}, {"s": seconds})
    assert outcome.status == status
    assert outcome.waited_s == (seconds if status == "SUCCEEDED" else 0)
    assert _one({"Type": "Wait", "SecondsPath": "$.t"}, {}).error == "States.Runtime"


def test_choice_evaluates_every_rule_and_fails_on_a_missing_path() -> None:
    """The documentation does not promise that And stops early: neither does the runner."""
    choice = {
        "Type": "Choice",
        "Choices": [
            {
                "And": [
                    {"Variable": "$.a", "IsPresent": True},
                    {"Variable": "$.a", "IsString": True},
                ],
                "Next": "Done",
            }
        ],
        "Default": "Done",
    }
    assert _one(choice, {"a": "x"}).status == "SUCCEEDED"
    assert _one(choice, {}).error == "States.Runtime"
    types = {
        "Type": "Choice",
        "Choices": [
            {"Variable": "$.v", "IsNumeric": True, "Next": "Done"},
        ],
    }
    assert _one(types, {"v": 1.5}).status == "SUCCEEDED"
    assert _one(types, {"v": True}).error == "States.NoChoiceMatched"


def test_transitions_count_states_entered_and_retries() -> None:
    outcome = execute(Script(THROTTLED))
    # CheckEvent, CheckTypes, RunTask, then RetryLaunch, FirstRetry, Backoff, WaitToRetry,
    # RunTask, Processed.
    assert outcome.status == "SUCCEEDED" and outcome.transitions == 9
    assert execute(Script()).transitions == 4


@pytest.mark.parametrize(
    ("change", "refused"),
    [
        (
            lambda d: d["States"]["WaitToRetry"].update(Timestamp="2026-01-01T00:00:00Z"),
            "Timestamp",
        ),
        (lambda d: d["States"]["Backoff"].update(InputPath="$"), "InputPath"),
        (lambda d: d.update(QueryLanguage="JSONata"), "QueryLanguage"),
        (
            lambda d: d["States"]["Backoff"]["Parameters"].update({"u.$": "States.UUID()"}),
            "States.UUID",
        ),
        (
            lambda d: d["States"]["RetryLaunch"]["Choices"][0].update(
                {"TimestampEquals": "2026-01-01T00:00:00Z"}
            ),
            "choice rule",
        ),
    ],
)
def test_the_runner_refuses_what_is_outside_its_subset(change: Any, refused: str) -> None:
    broken = definition()
    change(broken)
    with pytest.raises(states.Unsupported, match=refused):
        states.run(broken, load_event("s3-object-created.json"), Script(THROTTLED))
