"""Runs a processor's state machine in the local flow, as Step Functions documents it.

moto 5.2 stores state machines and has an interpreter, but its ECS integration
differs from AWS exactly where ``Delivery: Orchestrated`` matters (DESIGN.md): a
``RunTask`` answering ``failures[]`` is not the documented ``AmazonECS.Unknown``,
an ECS API error (throttling) becomes an uncatchable ``States.Runtime``, and a
task stopping with a non-zero exit succeeds instead of failing with
``States.TaskFailed``. So the local flow runs the definition here: Task, Choice, Pass,
Wait, Succeed and Fail states, the retriers (backoff, ``MaxDelaySeconds``, full
jitter), catchers, ``Parameters`` with JSONPath and the intrinsic functions the
definition uses (``asl.py``, ``choice.py``). The service calls go to ``Services`` (the local
"Fargate" and the emulator's SQS). Anything outside that subset is refused with a
clear error rather than guessed.

``States.Runtime`` (a missing path, a failing intrinsic) and a failing ResultPath are
never caught, as on AWS ("Handling errors in Step Functions workflows"): the execution
ends ``FAILED`` with that error.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import asl, choice
from .asl import StatesError, Unsupported

__all__ = ["Outcome", "Services", "StatesError", "Unsupported", "run"]


class Services(Protocol):
    def call(self, resource: str, parameters: dict[str, Any]) -> Any:
        """Run a Task state's integration; raise StatesError on failure."""


@dataclass
class Outcome:
    status: str  # SUCCEEDED | FAILED
    output: Any = None
    error: str | None = None
    cause: str | None = None
    attempts: dict[str, int] = field(default_factory=dict)  # Task state -> calls
    waited_s: float = 0.0  # retry intervals and Wait states, before any time scaling
    # What a Standard workflow bills: every state entered, and every retry of a Task
    # ("counts a state transition each time a step of your workflow is executed,
    # including retries", Step Functions pricing).
    transitions: int = 0


# The fields each state type may have here; anything else is refused by name.
_COMMON = {"Type", "Comment", "Next", "End"}
_FIELDS = {
    "Task": _COMMON | {"Resource", "Parameters", "ResultPath", "Retry", "Catch"},
    "Pass": _COMMON | {"Parameters", "Result", "ResultPath"},
    "Wait": _COMMON | {"Seconds", "SecondsPath"},
    "Choice": {"Type", "Comment", "Choices", "Default"},
    "Succeed": {"Type", "Comment"},
    "Fail": {"Type", "Comment", "Error", "Cause"},
}
_RETRIER = {"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds"}
_RETRIER |= {"JitterStrategy", "Comment"}
_CATCHER = {"ErrorEquals", "Next", "ResultPath", "Comment"}
_TOP = {"Comment", "StartAt", "States", "Version"}
# Wait: "Seconds ... an integer value between 0 and 99999999" (Wait workflow state).
MAX_WAIT_S = 99_999_999
MAX_TRANSITIONS = 1000  # a bound, so a cycle in a definition cannot hang the flow


def run(
    definition: Mapping[str, Any],
    execution_input: Any,
    services: Services,
    *,
    execution_id: str = "local",
    sleep: Callable[[float], None] = lambda s: None,
    rng: random.Random | None = None,
) -> Outcome:
    for key in set(definition) - _TOP:
        raise Unsupported(f"the definition's {key} is not supported by the local runner")
    ex = _Execution(
        context={"Execution": {"Id": execution_id, "Input": execution_input}},
        services=services,
        sleep=sleep,
        rng=rng or random.Random(),
        outcome=Outcome("RUNNING"),
    )
    outcome = ex.outcome
    states = definition["States"]
    name = definition["StartAt"]
    data = execution_input
    while outcome.transitions < MAX_TRANSITIONS:
        outcome.transitions += 1
        try:
            step = _step(name, states[name], data, ex)
        except StatesError as exc:  # an error no catcher handles
            outcome.status, outcome.error, outcome.cause = "FAILED", exc.error, exc.cause
            return outcome
        if step is None:
            return outcome
        name, data = step
    raise Unsupported(f"more than {MAX_TRANSITIONS} transitions")


@dataclass
class _Execution:
    """What every state of one execution reads: the context object ($$), the services,
    the clock and the random generator (jitter, States.MathRandom), and the outcome."""

    context: Mapping[str, Any]
    services: Services
    sleep: Callable[[float], None]
    rng: random.Random
    outcome: Outcome


def _check_fields(name: str, state: Mapping[str, Any]) -> str:
    kind = state.get("Type")
    if kind not in _FIELDS:
        raise Unsupported(f"state {name}: Type {kind} is not supported by the local runner")
    for key in sorted(set(state) - _FIELDS[kind]):
        raise Unsupported(f"state {name}: {key} is not supported by the local runner")
    for retrier in state.get("Retry", []):
        for key in sorted(set(retrier) - _RETRIER):
            raise Unsupported(f"state {name}: Retry field {key} is not supported")
    for catcher in state.get("Catch", []):
        for key in sorted(set(catcher) - _CATCHER):
            raise Unsupported(f"state {name}: Catch field {key} is not supported")
    return str(kind)


def _step(name: str, state: Mapping[str, Any], data: Any, ex: _Execution) -> tuple[str, Any] | None:
    """One state: the next state's name and input, or None when the execution ended."""
    kind, context, outcome = _check_fields(name, state), ex.context, ex.outcome
    if kind == "Succeed":
        outcome.status, outcome.output = "SUCCEEDED", data
        return None
    if kind == "Fail":
        outcome.status, outcome.error, outcome.cause = "FAILED", state["Error"], state["Cause"]
        return None
    if kind == "Choice":
        # Every rule is evaluated (choice.py): a missing path fails the state even when an
        # earlier rule already matched.
        matched = [c["Next"] for c in state["Choices"] if choice.rule(c, data, context)]
        chosen = matched[0] if matched else state.get("Default")
        if chosen is None:
            raise StatesError("States.NoChoiceMatched", f"no choice of state {name} matched")
        return chosen, data
    if kind == "Pass":
        if "Result" in state:
            result = state["Result"]
        elif "Parameters" in state:
            result = asl.payload(state["Parameters"], data, context, ex.rng)
        else:
            result = data
        data = _result(data, state, result)
    elif kind == "Wait":
        _wait(name, state, data, ex)
    else:
        try:
            result = _task(name, state, data, ex)
        except StatesError as exc:
            catcher = next(
                (c for c in state.get("Catch", []) if _matches(c["ErrorEquals"], exc.error)),
                None,
            )
            if catcher is None:
                raise
            error = {"Error": exc.error, "Cause": exc.cause}
            return catcher["Next"], _result(data, catcher, error)
        data = _result(data, state, result)
    if state.get("End"):
        outcome.status, outcome.output = "SUCCEEDED", data
        return None
    return state["Next"], data


def _wait(name: str, state: Mapping[str, Any], data: Any, ex: _Execution) -> None:
    if "SecondsPath" in state:
        try:
            seconds = asl.get(data, state["SecondsPath"], ex.context)
        except asl.Missing:
            raise asl.runtime(
                f"The SecondsPath parameter '{state['SecondsPath']}' of state {name} does not "
                "reference a valid value"
            ) from None
    elif "Seconds" in state:
        seconds = state["Seconds"]
    else:
        raise Unsupported(f"state {name}: a Wait needs Seconds or SecondsPath here")
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 0 <= seconds <= MAX_WAIT_S:
        raise asl.runtime(
            f"The Wait state {name} needs an integer number of seconds from 0 to "
            f"{MAX_WAIT_S} (got {seconds!r})"
        )
    ex.outcome.waited_s += seconds
    ex.sleep(seconds)


def _task(name: str, state: Mapping[str, Any], data: Any, ex: _Execution) -> Any:
    outcome = ex.outcome
    parameters = asl.payload(state.get("Parameters", {}), data, ex.context, ex.rng)
    retried = [0] * len(state.get("Retry", []))
    while True:
        outcome.attempts[name] = outcome.attempts.get(name, 0) + 1
        try:
            return ex.services.call(state["Resource"], parameters)
        except StatesError as exc:
            index = next(
                (
                    i
                    for i, r in enumerate(state.get("Retry", []))
                    if _matches(r["ErrorEquals"], exc.error)
                ),
                None,
            )
            if index is None:
                raise
            retrier = state["Retry"][index]
            if retried[index] >= retrier.get("MaxAttempts", 3):
                raise
            interval = (
                retrier.get("IntervalSeconds", 1)
                * retrier.get("BackoffRate", 2.0) ** retried[index]
            )
            if "MaxDelaySeconds" in retrier:
                interval = min(interval, retrier["MaxDelaySeconds"])
            if retrier.get("JitterStrategy", "NONE") == "FULL":
                interval = ex.rng.uniform(0, interval)
            retried[index] += 1
            outcome.waited_s += interval
            outcome.transitions += 1
            ex.sleep(interval)


# Never caught or retried, whatever a catcher names (concepts-error-handling.html).
_UNCATCHABLE = ("States.Runtime", "States.DataLimitExceeded")


def _matches(names: list[str], error: str) -> bool:
    """States.TaskFailed matches any error but States.Timeout; States.ALL any error."""
    if error in _UNCATCHABLE:
        return False
    if error in names:
        return True
    return "States.ALL" in names or ("States.TaskFailed" in names and error != "States.Timeout")


def _result(data: Any, state: Mapping[str, Any], result: Any) -> Any:
    path = state.get("ResultPath", "$")
    return data if path is None else asl.put(data, path, result)
