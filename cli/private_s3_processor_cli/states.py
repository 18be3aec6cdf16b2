"""Runs a processor's state machine in the local flow, as Step Functions documents it.

moto 5.2 stores state machines and has an interpreter, but its ECS integration
differs from AWS exactly where ``Delivery: Orchestrated`` matters (DESIGN.md): a
``RunTask`` answering ``failures[]`` is not the documented ``AmazonECS.Unknown``,
an ECS API error (throttling) becomes an uncatchable ``States.Runtime``, and a
task stopping with a non-zero exit succeeds instead of failing with
``States.TaskFailed``. So the local flow runs the definition here: the states, the
retriers (backoff, ``MaxDelaySeconds``, full jitter), catchers, ``Parameters`` with
JSONPath and the intrinsic functions the definition uses. The service calls go to
``Services`` (the local "Fargate" and the emulator's SQS). Anything outside that
subset is refused with a clear error rather than guessed.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class StatesError(Exception):
    """A state's error, named as Step Functions names it."""

    def __init__(self, error: str, cause: str) -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause


class Unsupported(Exception):
    """The definition uses something this runner does not implement."""


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
    waited_s: float = 0.0  # retry intervals, before any time scaling


_NOT_IMPLEMENTED = ("InputPath", "OutputPath", "ResultSelector", "TimeoutSeconds", "Result")


def run(
    definition: Mapping[str, Any],
    execution_input: Any,
    services: Services,
    *,
    execution_id: str = "local",
    sleep: Callable[[float], None] = lambda s: None,
    rng: random.Random | None = None,
) -> Outcome:
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
    for _ in range(1000):  # a bound, so a cycle in a definition cannot hang the flow
        try:
            step = _step(name, states[name], data, ex)
        except StatesError as exc:  # a runtime error outside any catcher
            outcome.status, outcome.error, outcome.cause = "FAILED", exc.error, exc.cause
            return outcome
        if step is None:
            return outcome
        name, data = step
    raise Unsupported("more than 1000 transitions")


@dataclass
class _Execution:
    """What every state of one execution reads: the context object ($$), the services,
    the clock and the jitter's generator, and the outcome being written."""

    context: Mapping[str, Any]
    services: Services
    sleep: Callable[[float], None]
    rng: random.Random
    outcome: Outcome


def _step(name: str, state: Mapping[str, Any], data: Any, ex: _Execution) -> tuple[str, Any] | None:
    """One state: the next state's name and input, or None when the execution ended."""
    context, outcome = ex.context, ex.outcome
    for key in _NOT_IMPLEMENTED:
        if key in state:
            raise Unsupported(f"state {name}: {key} is not supported by the local runner")
    kind = state["Type"]
    if kind == "Succeed":
        outcome.status, outcome.output = "SUCCEEDED", data
        return None
    if kind == "Fail":
        outcome.status, outcome.error, outcome.cause = "FAILED", state["Error"], state["Cause"]
        return None
    if kind == "Choice":
        chosen = next(
            (c["Next"] for c in state["Choices"] if _rule(c, data, context)),
            state.get("Default"),
        )
        if chosen is None:
            raise StatesError("States.NoChoiceMatched", f"no choice of state {name} matched")
        return chosen, data
    if kind == "Pass":
        result = _parameters(state["Parameters"], data, context) if "Parameters" in state else data
        data = _result(data, state, result)
    elif kind == "Task":
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
            return catcher["Next"], _put(data, catcher.get("ResultPath", "$"), error)
        data = _result(data, state, result)
    else:
        raise Unsupported(f"state {name}: Type {kind} is not supported by the local runner")
    if state.get("End"):
        outcome.status, outcome.output = "SUCCEEDED", data
        return None
    return state["Next"], data


def _task(name: str, state: Mapping[str, Any], data: Any, ex: _Execution) -> Any:
    outcome = ex.outcome
    parameters = _parameters(state.get("Parameters", {}), data, ex.context)
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
            ex.sleep(interval)


def _matches(names: list[str], error: str) -> bool:
    """States.TaskFailed matches any error but States.Timeout; States.ALL any error; neither
    catches States.Runtime, which fails the execution."""
    if error in names:
        return True
    if error == "States.Runtime":
        return False
    return "States.ALL" in names or ("States.TaskFailed" in names and error != "States.Timeout")


def _result(data: Any, state: Mapping[str, Any], result: Any) -> Any:
    path = state.get("ResultPath", "$")
    return data if path is None else _put(data, path, result)


# --- JSONPath (the reference paths Step Functions allows) and intrinsic functions -------

_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\['([^']*)'\]")


def _steps(path: str) -> list[str | int]:
    if not path.startswith("$"):
        raise Unsupported(f"path {path!r} must start with $")
    rest, steps, at = path[1:], [], 0
    while at < len(rest):
        m = _STEP.match(rest, at)
        if m is None:
            raise Unsupported(f"path {path!r} is not a reference path")
        steps.append(int(m.group(2)) if m.group(2) is not None else (m.group(1) or m.group(3)))
        at = m.end()
    return steps


class _Missing(Exception):
    pass


def _get(data: Any, path: str, context: Mapping[str, Any]) -> Any:
    node: Any = context if path.startswith("$$") else data
    for step in _steps(path[1:] if path.startswith("$$") else path):
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            raise _Missing(path) from None
    return node


def _put(data: Any, path: str, value: Any) -> Any:
    steps = _steps(path)
    if not steps:
        return value
    root = json.loads(json.dumps(data)) if isinstance(data, dict) else {}
    node = root
    for step in steps[:-1]:
        node = node.setdefault(step, {})
    node[steps[-1]] = value
    return root


def _parameters(template: Any, data: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            if key.endswith(".$"):
                out[key[:-2]] = _value(value, data, context)
            else:
                out[key] = _parameters(value, data, context)
        return out
    if isinstance(template, list):
        return [_parameters(v, data, context) for v in template]
    return template


def _value(expression: str, data: Any, context: Mapping[str, Any]) -> Any:
    try:
        if expression.startswith("States."):
            return _intrinsic(expression, data, context)
        return _get(data, expression, context)
    except _Missing as exc:
        raise StatesError(
            "States.Runtime", f"the JSONPath {exc} could not be found in the input"
        ) from None


_CALL = re.compile(r"^(States\.\w+)\((.*)\)$", re.S)
_ARG = re.compile(r"\s*('(?:[^'\\]|\\.)*'|[^,]+)\s*(?:,|$)")


def _intrinsic(expression: str, data: Any, context: Mapping[str, Any]) -> Any:
    m = _CALL.match(expression)
    if m is None:
        raise Unsupported(f"intrinsic {expression!r}")
    fn, raw = m.group(1), m.group(2)
    args: list[Any] = []
    for token in (t.group(1) for t in _ARG.finditer(raw) if t.group(1)):
        if token.startswith("'"):
            args.append(re.sub(r"\\(.)", r"\1", token[1:-1]))
        elif token.startswith("$"):
            args.append(_get(data, token, context))
        else:
            args.append(json.loads(token))
    if fn == "States.Format":
        pieces = args[0].split("{}")
        if len(pieces) != len(args):
            raise StatesError("States.IntrinsicFailure", f"{expression}: argument count")
        text = pieces[0]
        for arg, piece in zip(args[1:], pieces[1:], strict=True):
            text += (arg if isinstance(arg, str) else json.dumps(arg)) + piece
        return text
    if fn == "States.StringToJson":
        try:
            return json.loads(args[0])
        except (TypeError, json.JSONDecodeError) as exc:
            raise StatesError("States.Runtime", f"{expression}: {exc}") from None
    if fn == "States.JsonToString":
        return json.dumps(args[0], separators=(",", ":"))
    if fn == "States.StringSplit":
        return [part for part in args[0].split(args[1]) if part]
    raise Unsupported(f"intrinsic {fn}")


def _rule(rule: Mapping[str, Any], data: Any, context: Mapping[str, Any]) -> bool:
    if "And" in rule:
        return all(_rule(r, data, context) for r in rule["And"])
    if "Or" in rule:
        return any(_rule(r, data, context) for r in rule["Or"])
    if "Not" in rule:
        return not _rule(rule["Not"], data, context)
    try:
        value = _get(data, rule["Variable"], context)
    except _Missing:
        if "IsPresent" in rule:
            return not rule["IsPresent"]
        raise StatesError(
            "States.Runtime", f"Invalid path {rule['Variable']}: not found in the input"
        ) from None
    if "IsPresent" in rule:
        return bool(rule["IsPresent"])
    if "NumericEquals" in rule:
        return isinstance(value, int | float) and value == rule["NumericEquals"]
    if "StringEquals" in rule:
        return bool(value == rule["StringEquals"])
    if "StringMatches" in rule:
        pattern = "".join(
            ".*" if part == "*" else re.escape(part)
            for part in re.split(r"(\*)", rule["StringMatches"])
        )
        return isinstance(value, str) and re.fullmatch(pattern, value, re.S) is not None
    if "BooleanEquals" in rule:
        return value is rule["BooleanEquals"]
    raise Unsupported(f"choice rule {sorted(rule)}")
