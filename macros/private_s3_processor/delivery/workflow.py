"""The Orchestrated state machine's definition (Amazon States Language, JSONPath);
the resources around it are in ``orchestrated.py``.

One execution per upload: check the event, run the worker with ``ecs:runTask.sync``,
retry what is transient, and send everything else to the dead-letter queue with the
reason. Step Functions pages this relies on (developer guide):

- "Handling errors in Step Functions workflows" (concepts-error-handling.html):
  ``States.Runtime`` "is not retriable, and will always cause the execution to fail. A
  retry or catch on States.ALL will not catch States.Runtime errors"; a JSONPath that
  is not in the input raises it, so every path the machine reads from the execution
  input is checked with ``IsPresent`` first. ``States.TaskFailed`` in a catcher matches
  every error but ``States.Timeout``.
- "Choice workflow state" (state-choice.html): a rule whose ``Variable`` is missing
  fails the execution, and nothing says ``And`` stops at its first false rule: presence
  (``IsPresent``, which never fails) and types (``IsString``/``IsNumeric``) are checked
  in two Choice states, never in one rule.
- "Intrinsic functions for JSONPath states" (intrinsic-functions.html):
  ``States.MathRandom(start, end)`` returns an integer from start (inclusive) to end
  (exclusive); ``States.MathAdd`` adds integers; ``States.ArrayGetItem``/``States.Array``;
  up to 10 intrinsics nested in one field; Pass states accept them in ``Parameters``.
- "Wait workflow state" (state-wait.html): ``SecondsPath`` selects an integer number of
  seconds (0 to 99,999,999) from the state's input.

A Task's ``Retry`` selects on the error name only, and two transient launch problems
share their name with permanent ones (a task that never started and a task whose worker
failed are both ``States.TaskFailed``; EC2 throttling inside RunTask and a wrong subnet
are both ``ECS.InvalidParameterException``), so the retries are a loop in the definition:
a counter in the state data (``$.launch``), a Pass that draws the jittered wait, a Wait,
and back to RunTask. Every launch problem counts against the same budget.
"""

from __future__ import annotations

import json
from typing import Any

from ..rules import (
    INVALID_PARAMETER_ERROR,
    LAUNCH_DELAYS_S,
    LAUNCH_ERRORS,
    LAUNCH_RETRIES,
    LAUNCH_STOP_CODE,
    NON_FAILURE_EXIT_CODES,
    THROTTLED_CAUSES,
)
from ..spec import Processor
from ..task import CONTAINER_NAME

# The event fields the task gets, as JSONPath into the S3 event (the execution input).
BUCKET = "$.detail.bucket.name"
KEY = "$.detail.object.key"
SIZE = "$.detail.object.size"
ETAG = "$.detail.object.etag"
# Absent when the bucket's versioning was suspended by hand: the machine then supplies
# "", which the worker reads as "no version" (private_s3_worker.config). Bracket
# notation: a field name holding punctuation other than "_" must use it ("Using
# JSONPath paths", amazon-states-language-paths.html).
VERSION = "$.detail.object['version-id']"
REQUIRED = (BUCKET, KEY, SIZE, ETAG)
STRINGS = (BUCKET, KEY, ETAG, VERSION)

# ECS wants string values: the size, a number in the event, goes through States.Format.
ENVIRONMENT_PATHS = (
    ("S3_BUCKET", BUCKET),
    ("S3_KEY", KEY),
    ("S3_SIZE", f"States.Format('{{}}', {SIZE})"),
    ("S3_ETAG", ETAG),
    ("S3_VERSION_ID", VERSION),
)

# The machine's own state data, beside the event: the retry counter and the next wait
# ({"attempt": retries so far, "seconds": ...}), the last error, the stopped task.
LAUNCH = "$.launch"
ERROR = "$.error"
EXIT_CODE = "$.stopped.Task.Containers[0].ExitCode"
STOP_CODE = "$.stopped.Task.StopCode"

# Dead letters of executions whose input is not an event the worker could run with.
EVENT_ERRORS = {
    "MissingField": (
        "EventFieldMissing",
        "The execution input is not an S3 Object Created event: detail.bucket.name, "
        "detail.object.key, detail.object.size and detail.object.etag are required",
    ),
    "InvalidField": (
        "EventFieldInvalid",
        "The execution input's detail.bucket.name, detail.object.key, detail.object.etag "
        "and detail.object.version-id must be strings and detail.object.size a number",
    ),
    "ReservedField": (
        "EventFieldReserved",
        "The execution input has a top-level 'launch' field: the state machine keeps its "
        "retry counter there (an S3 event never has one)",
    ),
}


def definition_string(p: Processor) -> str:
    """The definition as ``DefinitionString`` text, never a ``Definition`` object: its
    ``"ResultPath": null`` is a JSON null, which CloudFormation refuses anywhere in a
    template ("'null' values are not allowed in templates", aws/serverless-application-
    model#1618; DESIGN.md, "Delivery: Orchestrated"); in a string it is only text.
    Compact and in insertion order: the same bytes on every run, and no indentation
    (about 4.5 kB per processor) in a template capped at MAX_TEMPLATE_BYTES, which
    limits.py measures on the output and which keeps the text far inside Step
    Functions' hard 1 MB definition quota ("Step Functions service quotas")."""
    return json.dumps(definition(p), separators=(",", ":"))


def definition(p: Processor) -> dict[str, Any]:
    """The state machine. ``${...}`` are DefinitionSubstitutions."""
    return {
        "Comment": f"Processor {p.logical_id}: run the worker for one upload; retry "
        "launches; dead-letter what still fails",
        "StartAt": "CheckEvent",
        "States": {
            **_checks(),
            "RunTask": _run_task(),
            "Processed": {"Type": "Succeed"},
            **_classify(),
            **_retry(),
            **_dead_letter(p),
        },
    }


def _present(path: str) -> dict[str, Any]:
    return {"Variable": path, "IsPresent": True}


def _checks() -> dict[str, Any]:
    """The event, before any path of it is read: present, then of the right types."""
    event_errors = {
        state: {
            "Type": "Pass",
            # Replaces the whole state data, so this works for any input, even a JSON
            # array or string (a ResultPath into a non-object would fail the state).
            "Parameters": {"error": {"Error": error, "Cause": cause}},
            "Next": "DeadLetter",
        }
        for state, (error, cause) in EVENT_ERRORS.items()
    }
    return {
        "CheckEvent": {
            "Type": "Choice",
            "Choices": [
                {**_present(LAUNCH), "Next": "ReservedField"},
                {"And": [_present(p) for p in (*REQUIRED, VERSION)], "Next": "CheckTypes"},
                {"And": [_present(p) for p in REQUIRED], "Next": "NoVersion"},
            ],
            "Default": "MissingField",
        },
        "NoVersion": {"Type": "Pass", "Result": "", "ResultPath": VERSION, "Next": "CheckTypes"},
        "CheckTypes": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        *({"Variable": p, "IsString": True} for p in STRINGS),
                        {"Variable": SIZE, "IsNumeric": True},
                    ],
                    "Next": "RunTask",
                }
            ],
            "Default": "InvalidField",
        },
        **event_errors,
    }


def _run_task() -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "${RunTaskSync}",
        "Parameters": {
            "Cluster": "${Cluster}",
            "TaskDefinition": "${TaskDefinition}",
            "LaunchType": "FARGATE",
            "PlatformVersion": "LATEST",
            "NetworkConfiguration": {
                "AwsvpcConfiguration": {
                    # Any number of subnets through one substitution.
                    "Subnets.$": "States.StringSplit('${Subnets}', ',')",
                    "SecurityGroups.$": "States.StringSplit('${SecurityGroups}', ',')",
                    "AssignPublicIp": "DISABLED",
                }
            },
            "EnableECSManagedTags": True,
            "PropagateTags": "TASK_DEFINITION",
            "Overrides": {
                "ContainerOverrides": [
                    {
                        "Name": CONTAINER_NAME,
                        "Environment": [
                            {"Name": name, "Value.$": path} for name, path in ENVIRONMENT_PATHS
                        ],
                    }
                ]
            },
        },
        # The stopped task's description is not needed once it succeeded.
        "ResultPath": None,
        "Catch": [
            # Order matters: States.TaskFailed matches every error but a timeout.
            {"ErrorEquals": list(LAUNCH_ERRORS), "ResultPath": ERROR, "Next": "RetryLaunch"},
            {
                "ErrorEquals": [INVALID_PARAMETER_ERROR],
                "ResultPath": ERROR,
                "Next": "InvalidParameter",
            },
            {"ErrorEquals": ["States.TaskFailed"], "ResultPath": ERROR, "Next": "StoppedTask"},
            {"ErrorEquals": ["States.ALL"], "ResultPath": ERROR, "Next": "DeadLetter"},
        ],
        "Next": "Processed",
    }


def _classify() -> dict[str, Any]:
    """Which failures are transient: throttled look-ups, tasks that never started."""
    outcomes = [c for c in NON_FAILURE_EXIT_CODES if c != 0]
    cause = f"{ERROR}.Cause"
    return {
        "InvalidParameter": {
            "Type": "Choice",
            "Choices": [
                {
                    "Or": [{"Variable": cause, "StringMatches": m} for m in THROTTLED_CAUSES],
                    "Next": "RetryLaunch",
                }
            ],
            "Default": "DeadLetter",
        },
        # A task that stopped fails the .sync state with its description as the cause;
        # read it only when it looks like JSON (States.StringToJson cannot be caught).
        "StoppedTask": {
            "Type": "Choice",
            "Choices": [{"Variable": cause, "StringMatches": "{*", "Next": "ReadStoppedTask"}],
            "Default": "DeadLetter",
        },
        "ReadStoppedTask": {
            "Type": "Pass",
            "Parameters": {"Task.$": f"States.StringToJson({cause})"},
            "ResultPath": "$.stopped",
            "Next": "HasExitCode",
        },
        # The worker ran: its exit code decides. Otherwise the stop code says whether it
        # ever started.
        "HasExitCode": {
            "Type": "Choice",
            "Choices": [
                {**_present(EXIT_CODE), "Next": "ExitCode"},
                {**_present(STOP_CODE), "Next": "StopCode"},
            ],
            "Default": "DeadLetter",
        },
        # The worker's "skipped" and "gone" exits are outcomes, not failures. A task that
        # ran and failed is not run again: redrive decides when.
        "ExitCode": {
            "Type": "Choice",
            "Choices": [
                {
                    "Or": [{"Variable": EXIT_CODE, "NumericEquals": c} for c in outcomes],
                    "Next": "Processed",
                }
            ],
            "Default": "DeadLetter",
        },
        "StopCode": {
            "Type": "Choice",
            "Choices": [
                {"Variable": STOP_CODE, "StringEquals": LAUNCH_STOP_CODE, "Next": "RetryLaunch"}
            ],
            "Default": "DeadLetter",
        },
    }


def _retry() -> dict[str, Any]:
    """The launch budget: LAUNCH_RETRIES retries, capped exponential backoff, full jitter."""
    delays = ", ".join(str(d) for d in LAUNCH_DELAYS_S)
    attempt = f"{LAUNCH}.attempt"
    return {
        # CheckEvent refused an input with its own "launch": absent means no retry yet.
        "RetryLaunch": {
            "Type": "Choice",
            "Choices": [{**_present(LAUNCH), "Next": "LaunchBudget"}],
            "Default": "FirstRetry",
        },
        "LaunchBudget": {
            "Type": "Choice",
            "Choices": [
                {"Variable": attempt, "NumericLessThan": LAUNCH_RETRIES, "Next": "Backoff"}
            ],
            "Default": "DeadLetter",
        },
        "FirstRetry": {
            "Type": "Pass",
            "Result": {"attempt": 0},
            "ResultPath": LAUNCH,
            "Next": "Backoff",
        },
        # The n-th retry waits a whole number of seconds from 0 to LAUNCH_DELAYS_S[n]
        # (MathRandom's end is exclusive, hence the + 1).
        "Backoff": {
            "Type": "Pass",
            "Parameters": {
                "attempt.$": f"States.MathAdd({attempt}, 1)",
                "seconds.$": "States.MathRandom(0, States.MathAdd("
                f"States.ArrayGetItem(States.Array({delays}), {attempt}), 1))",
            },
            "ResultPath": LAUNCH,
            "Next": "WaitToRetry",
        },
        "WaitToRetry": {"Type": "Wait", "SecondsPath": f"{LAUNCH}.seconds", "Next": "RunTask"},
    }


def _dead_letter(p: Processor) -> dict[str, Any]:
    return {
        "DeadLetter": {
            "Type": "Task",
            "Resource": "${SendMessage}",
            "Parameters": {
                "QueueUrl": "${DeadLetterQueueUrl}",
                "MessageBody": {
                    "processor": p.logical_id,
                    "event.$": "$$.Execution.Input",
                    "error.$": f"{ERROR}.Error",
                    "cause.$": f"{ERROR}.Cause",
                    "execution.$": "$$.Execution.Id",
                },
            },
            "ResultPath": None,
            "Retry": [
                {
                    "ErrorEquals": ["States.ALL"],
                    "IntervalSeconds": 1,
                    "BackoffRate": 2.0,
                    "MaxAttempts": 5,
                    "JitterStrategy": "FULL",
                }
            ],
            "Next": "Failed",
        },
        # Ends FAILED so the execution counts in ExecutionsFailed as well.
        "Failed": {
            "Type": "Fail",
            "Error": "ProcessingFailed",
            "Cause": "The upload was not processed; it is in the dead-letter queue "
            "(private-s3-processor redrive re-submits it)",
        },
    }
