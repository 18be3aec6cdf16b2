"""The macro on a second, independent CloudFormation engine: deployed from
``build/macro.yaml``, then called by the engine for every template that names it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from private_s3_processor import ExpansionError
from private_s3_processor.intrinsics import parameter_values

from integration import cases, checks, compare, stacks
from integration.conftest import RUN
from integration.engine import ACCOUNT, Engine
from integration.stacks import Outcome

NAMES = ["example", *cases.golden_names(errors=False)]
ERRORS = cases.golden_names(errors=True)
MACRO = "PrivateS3Processor"


def test_macro_stack_deploys_with_the_function_sam_built(
    engine: Engine, macro_stack: Outcome
) -> None:
    assert macro_stack.status == "CREATE_COMPLETE", (macro_stack.reason, macro_stack.failures)
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in engine.client("cloudformation").describe_stacks(StackName=macro_stack.name)[
            "Stacks"
        ][0]["Outputs"]
    }
    assert outputs["MacroName"] == MACRO
    function = engine.client("lambda").get_function_configuration(
        FunctionName=outputs["FunctionArn"]
    )
    assert (function["Runtime"], function["Handler"], function["Architectures"]) == (
        "python3.13",
        "private_s3_processor.handler.lambda_handler",
        ["x86_64"],
    )
    report = checks.check(engine, macro_stack.name, stacks.processed(engine, macro_stack.name), {})
    assert not report.problems, "\n".join(report.problems)


@pytest.mark.parametrize("name", NAMES)
def test_stack_deploys_through_the_macro(
    deployed: dict[str, tuple[cases.Case, Outcome]], name: str
) -> None:
    _, outcome = deployed[name]
    cases.engine_fault(name, outcome.status, outcome.reason)
    assert outcome.status == "CREATE_COMPLETE", f"{outcome.reason}\n" + "\n".join(outcome.failures)


@pytest.mark.parametrize("name", NAMES)
def test_processed_template_is_what_expand_prints(
    engine: Engine, deployed: dict[str, tuple[cases.Case, Outcome]], prefix_list: str, name: str
) -> None:
    case, outcome = deployed[name]
    cases.engine_fault(name, outcome.status, outcome.reason)
    engine_side = stacks.processed(engine, case.stack)
    expand_side = compare.expand_like_engine(case.template, case.parameters, prefix_list)
    left, explained = compare.unexplained(expand_side, engine_side)
    for difference, cause in explained:
        RUN.notes.append(f"{name}: explained difference {difference.path}: {cause}")
    assert not left, "\n".join(str(d) for d in left)
    assert engine_side["Resources"], "the processed template has no resources"


@pytest.mark.parametrize("name", NAMES)
def test_every_resource_is_what_the_template_says(
    engine: Engine, deployed: dict[str, tuple[cases.Case, Outcome]], name: str
) -> None:
    case, outcome = deployed[name]
    cases.engine_fault(name, outcome.status, outcome.reason)
    if outcome.status != "CREATE_COMPLETE":
        pytest.fail(f"{case.stack} did not deploy: {outcome.status}")
    report = checks.check(
        engine,
        case.stack,
        stacks.processed(engine, case.stack),
        parameter_values(case.template, case.parameters),
    )
    RUN.notes += [f"{name}: uncompared {u}" for u in report.uncompared]
    counts = [sum(report.checked.values()), sum(report.stand_ins.values())]
    RUN.notes.append(
        f"{name}: checked {counts[0]}, stand-ins {counts[1]}, "
        f"placeholders {sum(report.placeholders.values())}, uncompared {len(report.uncompared)}"
    )
    assert not report.problems, "\n".join(report.problems)
    assert report.checked, "no resource was checked"


def test_a_bad_property_fails_the_stack_with_the_macros_message(
    engine: Engine, macro_stack: Outcome, scratch: Path, prefix_list: str
) -> None:
    """Every golden error case, sent through the engine: the stack fails, and its reason is
    CloudFormation's transform failure around the macro's own message, word for word (the
    message expand gives in the engine's account, region and prefix list). A template with
    a parameter that has no default and no value is refused before any macro runs, by
    CloudFormation as by the engine; that refusal is asserted instead."""
    assert macro_stack.status == "CREATE_COMPLETE"
    started = time.monotonic()
    loaded = {name: cases.load(name, cases.GOLDEN / f"{name}.yaml", {}, scratch) for name in ERRORS}
    requests: list[tuple[str, str, dict[str, str]]] = []
    for case in loaded.values():
        # The golden harness calls expand directly; a stack must name the macro.
        text = case.text if "Transform" in case.template else f"Transform: {MACRO}\n{case.text}"
        requests.append((case.stack, text, {}))
    refused = stacks.create_all(engine, requests)
    outcomes = stacks.wait(engine, [r[0] for r in requests if r[0] not in refused], started)
    outcomes.update(refused)
    RUN.outcomes.update(outcomes)
    RUN.timings[f"{len(ERRORS)} failing stacks"] = time.monotonic() - started
    problems = []
    for name, case in loaded.items():
        outcome = outcomes[case.stack]
        unset = sorted(
            k for k, v in case.template.get("Parameters", {}).items() if "Default" not in v
        )
        if unset:
            expected = f"Parameters: [{','.join(unset)}] must have values"
            if outcome.status != "REFUSED" or expected not in outcome.reason:
                problems.append(
                    f"{name}: {outcome.status} {outcome.reason[:200]!r}; expected {expected!r}"
                )
            continue
        try:
            compare.expand_like_engine(case.template, {}, prefix_list)
        except ExpansionError as exc:
            message = str(exc)
        else:
            problems.append(
                f"{name}: expand succeeds in the engine's account; not an error case there"
            )
            continue
        expected = (
            f"Transform {ACCOUNT}::{MACRO} failed with: {message}. Rollback requested by user."
        )
        if outcome.status not in ("CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED"):
            problems.append(
                f"{name}: {outcome.status} {outcome.reason[:200]!r}, expected the stack to fail"
            )
        elif (
            outcome.reason != expected
            and compare.without_engine_transform(outcome.reason) != expected
        ):
            problems.append(
                f"{name}: the reason is {outcome.reason[:300]!r}; expected {expected[:300]!r}"
            )
    assert not problems, "\n".join(problems)
