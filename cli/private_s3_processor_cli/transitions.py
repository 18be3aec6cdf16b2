"""How many state transitions an Orchestrated processor's state machine is billed per
upload, counted by running its definition with the local runner (``states.py``), so the
count follows the definition instead of a number written beside it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from private_s3_processor.rules import INVALID_PARAMETER_ERROR, LAUNCH_STOP_CODE

from . import states
from .ecs_api import CAPACITY_REASON, THROTTLED_MESSAGE


class CountError(Exception):
    """A definition the runner cannot count; the message says why."""


# What a Standard workflow execution is billed for: "Step Functions counts a state
# transition each time a step of your workflow is executed, including retries" (AWS Step
# Functions pricing). The count comes from running the definition on this event (the
# S3 event EventBridge sends; a versioned bucket, as every processor's is).
SAMPLE_EVENT: dict[str, Any] = {
    "version": "0",
    "detail-type": "Object Created",
    "source": "aws.s3",
    "detail": {
        "bucket": {"name": "bucket"},
        "object": {
            "key": "inbound/file.csv",
            "size": 1,
            "etag": "d41d8cd98f00b204e9800998ecf8427e",
            "version-id": "v1",
        },
    },
}
# One of each launch problem the state machine retries, as Step Functions reports it.
LAUNCH_PROBLEMS = (
    states.StatesError("AmazonECS.Unknown", json.dumps([{"Reason": CAPACITY_REASON}])),
    states.StatesError(
        "States.TaskFailed",
        json.dumps({"StopCode": LAUNCH_STOP_CODE, "StoppedReason": CAPACITY_REASON}),
    ),
    states.StatesError(INVALID_PARAMETER_ERROR, f"{THROTTLED_MESSAGE} (ErrorCode: Throttling)"),
)


class _Answers:
    """The services of a counted execution: the given errors first, then success."""

    def __init__(self, *errors: states.StatesError) -> None:
        self.errors = list(errors)

    def call(self, resource: str, parameters: dict[str, Any]) -> Any:
        if self.errors:
            raise self.errors.pop(0)
        return {}


@dataclass(frozen=True)
class Transitions:
    """A state machine's transitions per upload: processed by the first task, and what
    one retried launch adds (one number per kind of launch problem it retries)."""

    first_time: int
    per_retry: tuple[int, ...]

    @classmethod
    def of(cls, definition: Any) -> Transitions:
        def count(*errors: states.StatesError) -> states.Outcome:
            try:
                return states.run(definition, SAMPLE_EVENT, _Answers(*errors))
            except (
                states.Unsupported,
                KeyError,
                IndexError,
                TypeError,
                AttributeError,
                ValueError,
                ArithmeticError,
            ) as exc:  # a hand-edited definition of any shape: an error, not a traceback
                raise CountError(
                    "cannot count the state machine's transitions (its definition is not one "
                    f"this command can run: {exc})"
                ) from None

        if not isinstance(definition, Mapping):
            raise CountError("the state machine has no definition object to count")
        happy = count()
        if happy.status != "SUCCEEDED":
            raise CountError(
                "the state machine does not succeed on an upload whose task succeeds "
                f"({happy.error}), so its transitions cannot be counted"
            )
        retried = [count(error) for error in LAUNCH_PROBLEMS]
        return cls(
            happy.transitions,
            tuple(
                o.transitions - happy.transitions
                for o in retried
                if o.status == "SUCCEEDED" and sum(o.attempts.values()) == 2
            ),
        )
