"""AWS Control Tower's proactive controls (cfn-guard, tests/guard.py) over every expanded
golden output, the macro stacks and the example stacks: each failure is fixed, or
suppressed on its resource with a reason, and each suppression suppresses a failure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests import guard

Checked = tuple[dict[str, dict[str, Any]], dict[str, guard.FileResult]]
REASON = {"sqs_dlq_check": "A crafted reason."}


@pytest.fixture(scope="module")
def known() -> set[str]:
    return guard.rule_names(guard.rules_dir())


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> Checked:
    templates = guard.templates_to_check()
    folder = tmp_path_factory.mktemp("guard")
    guard.write(templates, folder)
    return templates, guard.run(folder)


def test_the_whole_rule_set_ran_on_every_template(checked: Checked, known: set[str]) -> None:
    """A broken install (no rules, an empty report) cannot pass as clean."""
    templates, results = checked
    assert len(known) >= 200
    assert sorted(results) == sorted(templates)
    for file, result in results.items():
        assert result.seen == known, (file, sorted(known ^ result.seen)[:5])
        assert result.compliant, f"{file}: no rule held, so none was applied"
    summary = guard.summarise(templates, results, known)
    assert len(summary.passed) >= 20, summary.lines()


def test_every_failure_is_suppressed_with_a_reason(checked: Checked, known: set[str]) -> None:
    templates, results = checked
    found = [
        line
        for file in sorted(results)
        for line in guard.problems(file, templates[file], results[file], known)
    ]
    assert not found, "\n" + "\n".join(found)


def _queue(guard_metadata: Any = None, **properties: Any) -> dict[str, Any]:
    queue: dict[str, Any] = {
        "Type": "AWS::SQS::Queue",
        "Properties": {"SqsManagedSseEnabled": True, **properties},
    }
    if guard_metadata is not None:
        queue["Metadata"] = {"guard": guard_metadata}
    return queue


def _redrive(target: str) -> dict[str, Any]:
    return {"deadLetterTargetArn": {"Fn::GetAtt": [target, "Arn"]}, "maxReceiveCount": 5}


def _suppress(*rules: str, reasons: Any = None) -> dict[str, Any]:
    return {"SuppressedRules": list(rules), "Reasons": REASON if reasons is None else reasons}


# Crafted templates, each with the exact problems the check must find. Every queue
# without a RedrivePolicy fails sqs_dlq_check (CT.SQS.PR.1); one with it passes.
CRAFTED: dict[str, tuple[dict[str, Any], list[str]]] = {
    "clean.json": ({"Dead": _queue(_suppress("sqs_dlq_check"))}, []),
    "unsuppressed.json": (
        {"Work": _queue(RedrivePolicy=_redrive("Dead")), "Dead": _queue()},
        ["unsuppressed.json: Dead: sqs_dlq_check fails and is not suppressed"],
    ),
    "no_reason.json": (
        {
            "Empty": _queue(_suppress("sqs_dlq_check", reasons={"sqs_dlq_check": "  "})),
            "Missing": _queue(_suppress("sqs_dlq_check", reasons={})),
        },
        [
            "no_reason.json: Empty: suppresses sqs_dlq_check without a reason",
            "no_reason.json: Missing: suppresses sqs_dlq_check without a reason",
        ],
    ),
    "unused.json": (
        {
            "Work": _queue(_suppress("sqs_dlq_check"), RedrivePolicy=_redrive("Dead")),
            "Dead": _queue(_suppress("sqs_dlq_check")),
        },
        ["unused.json: Work: suppresses sqs_dlq_check, which does not fail there"],
    ),
    "unknown.json": (
        {
            "Dead": _queue(
                _suppress("sqs_dlq_check", "sqs_dlq_chek", reasons={**REASON, "sqs_dlq_chek": "x"})
            )
        },
        ["unknown.json: Dead: suppresses sqs_dlq_chek, which is no rule of the set"],
    ),
    "malformed.json": (
        {"Dead": _queue({"SuppressedRules": "sqs_dlq_check"})},
        [
            "malformed.json: Dead: Metadata.guard has no SuppressedRules list",
            "malformed.json: Dead: sqs_dlq_check fails and is not suppressed",
        ],
    ),
}


@pytest.fixture(scope="module")
def crafted(tmp_path_factory: pytest.TempPathFactory) -> Checked:
    templates = {name: {"Resources": resources} for name, (resources, _) in CRAFTED.items()}
    folder = tmp_path_factory.mktemp("crafted")
    guard.write(templates, folder)
    return templates, guard.run(folder)


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_each_check_can_fail(name: str, crafted: Checked, known: set[str]) -> None:
    templates, results = crafted
    found = guard.problems(name, templates[name], results[name], known)
    assert sorted(found) == sorted(CRAFTED[name][1])


def test_a_failure_that_names_no_resource_is_reported() -> None:
    report = [
        {
            "name": "/some/dir/t.json",
            "compliant": ["a_check"],
            "not_applicable": [],
            "not_compliant": [{"Rule": {"name": "b_check", "checks": [{"path": ""}]}}],
        }
    ]
    results = guard.parse(report)
    assert results["t.json"].failed == {"b_check": {""}}
    found = guard.problems("t.json", {"Resources": {}}, results["t.json"], {"a_check", "b_check"})
    assert found == ["t.json: b_check failed on no resource it names"]


def test_cfn_guard_errors_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(guard.GuardError, match="cfn-guard exited"):
        guard.run(tmp_path)
