"""AWS Control Tower's proactive controls, run by cfn-guard over templates, judged against
the suppressions each resource declares in ``Metadata.guard``.

The npm package ``@cdklabs/cdk-validator-cfnguard`` (``tools/guard/package.json``, which
``make`` installs into the tools environment) ships the cfn-guard binary and the rules.
One cfn-guard process reads every rule and every template of a folder; its JSON report
names, per template, the rules that held (``compliant``) and those that failed, each
failure with the paths (``/Resources/<LogicalId>/...``) of the clauses that failed.

``python -m tests.guard`` prints the figures over every template ``tests/test_guard.py``
checks.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from private_s3_processor_cli.templates import expand_document, load_template

from tests.conftest import ROOT, tool
from tests.golden import cases

# Where the npm package keeps the rules, beside bin/<os>/<arch>/cfn-guard.
RULES = Path("rules") / "control-tower" / "cfn-guard"
# Each rule file reports under one name, the rule guarded by is_cfn_template (the same
# name again guards the CloudFormation-hook form of the input).
RULE_NAME = re.compile(r"^rule\s+(\w+)\s+when\s+is_cfn_template\b", re.MULTILINE)
RESOURCE_PATH = re.compile(r"^/Resources/([^/]+)")
# cfn-guard's exit status: 0 every rule held, 19 some failed; anything else is an error.
PASSED, FAILED = 0, 19


class GuardError(Exception):
    """cfn-guard did not run, or did not say what it found."""


def rules_dir() -> Path:
    """The rule set of the installed package (the binary is bin/<os>/<arch>/cfn-guard)."""
    return Path(tool("cfn-guard")).resolve().parents[3] / RULES


def rule_names(rules: Path) -> set[str]:
    """The names the rule files report under: the rule set."""
    return {
        name
        for path in rules.rglob("*.guard")
        for name in RULE_NAME.findall(path.read_text(encoding="utf-8"))
    }


@dataclass
class FileResult:
    """One template's result: every rule cfn-guard reported on, the rules that held, and
    each failed rule's logical IDs (``""`` for a failure that names no resource)."""

    seen: set[str] = field(default_factory=set)
    compliant: set[str] = field(default_factory=set)
    failed: dict[str, set[str]] = field(default_factory=dict)


def _paths(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "path" and isinstance(value, str):
                yield value
            else:
                yield from _paths(value)
    elif isinstance(node, list):
        for item in node:
            yield from _paths(item)


def parse(report: list[dict[str, Any]]) -> dict[str, FileResult]:
    """cfn-guard's JSON report (``-o json -S none -z``), by template file name."""
    results: dict[str, FileResult] = {}
    for entry in report:
        result = FileResult(compliant=set(entry.get("compliant", [])))
        # cfn-guard 3.1.1 lists every rule as not_applicable, failed and held ones too.
        result.seen = result.compliant | set(entry.get("not_applicable", []))
        for failure in entry.get("not_compliant", []):
            ids = {m.group(1) for p in _paths(failure) if (m := RESOURCE_PATH.match(p))}
            result.failed.setdefault(failure["Rule"]["name"], set()).update(ids or {""})
        result.seen |= set(result.failed)
        results[Path(entry["name"]).name] = result
    return results


def run(folder: Path, rules: Path | None = None) -> dict[str, FileResult]:
    """Every rule over every template in ``folder``, in one cfn-guard process."""
    command = [tool("cfn-guard"), "validate", "-r", str(rules or rules_dir()), "-d", str(folder)]
    done = subprocess.run(
        [*command, "-o", "json", "-S", "none", "-z"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode not in (PASSED, FAILED):
        raise GuardError(f"cfn-guard exited {done.returncode}: {done.stderr.strip()[-500:]}")
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise GuardError(f"cfn-guard's report is not JSON ({exc})") from exc
    return parse(report)


def declared(template: Mapping[str, Any]) -> dict[str, Any]:
    """``Metadata.guard`` of each resource that has one, by logical ID."""
    found = {}
    for logical_id, resource in (template.get("Resources") or {}).items():
        meta = resource.get("Metadata") if isinstance(resource, dict) else None
        if isinstance(meta, dict) and "guard" in meta:
            found[logical_id] = meta["guard"]
    return found


def _suppressed(file: str, logical_id: str, guard: Any) -> tuple[list[str], list[str]]:
    """(rule names, problems) of one resource's ``Metadata.guard``."""
    where = f"{file}: {logical_id}"
    if not isinstance(guard, dict) or not isinstance(guard.get("SuppressedRules"), list):
        return [], [f"{where}: Metadata.guard has no SuppressedRules list"]
    rules = [r for r in guard["SuppressedRules"] if isinstance(r, str)]
    problems = [
        f"{where}: {r!r} in SuppressedRules is not a rule name"
        for r in guard["SuppressedRules"]
        if not isinstance(r, str)
    ]
    reasons = guard.get("Reasons")
    reasons = reasons if isinstance(reasons, dict) else {}
    for rule in rules:
        reason = reasons.get(rule)
        if not isinstance(reason, str) or not reason.strip():
            problems.append(f"{where}: suppresses {rule} without a reason")
    return rules, problems


def problems(
    file: str, template: Mapping[str, Any], result: FileResult, known: set[str]
) -> list[str]:
    """One line per failure not suppressed on its resource, suppression without a reason,
    suppression of a rule that did not fail on its resource, or of a rule not in the set."""
    found: list[str] = []
    suppressed: dict[str, list[str]] = {}
    for logical_id, guard in declared(template).items():
        suppressed[logical_id], bad = _suppressed(file, logical_id, guard)
        found += bad
    for rule, ids in sorted(result.failed.items()):
        for logical_id in sorted(ids):
            if not logical_id:
                found.append(f"{file}: {rule} failed on no resource it names")
            elif rule not in suppressed.get(logical_id, []):
                found.append(f"{file}: {logical_id}: {rule} fails and is not suppressed")
    for logical_id, rules in sorted(suppressed.items()):
        for rule in rules:
            if rule not in known:
                found.append(
                    f"{file}: {logical_id}: suppresses {rule}, which is no rule of the set"
                )
            elif logical_id not in result.failed.get(rule, set()):
                found.append(f"{file}: {logical_id}: suppresses {rule}, which does not fail there")
    return found


@dataclass
class Summary:
    """What the rule set found over a set of templates."""

    rules: int  # rules in the set (each ran on every template)
    applied: set[str]  # rules that applied to some resource (held or failed)
    passed: set[str]  # rules that applied and never failed
    suppressed: Counter[str]  # rule -> failures suppressed (one per template and resource)
    unsuppressed: Counter[str]  # rule -> failures not suppressed

    def lines(self) -> list[str]:
        out = [
            f"rules in the set, run on every template: {self.rules}",
            f"rules that applied to some resource: {len(self.applied)}",
            f"rules that held everywhere they applied: {len(self.passed)}",
            f"rules that failed somewhere: {len(self.applied - self.passed)}",
        ]
        out += [f"  suppressed {n:4} x {rule}" for rule, n in sorted(self.suppressed.items())]
        out += [f"  NOT suppressed {n:4} x {rule}" for rule, n in sorted(self.unsuppressed.items())]
        return out


def summarise(
    templates: Mapping[str, Mapping[str, Any]], results: Mapping[str, FileResult], known: set[str]
) -> Summary:
    applied: set[str] = set()
    failed: set[str] = set()
    suppressed: Counter[str] = Counter()
    unsuppressed: Counter[str] = Counter()
    for file, result in results.items():
        applied |= result.compliant | set(result.failed)
        failed |= set(result.failed)
        meta = declared(templates[file])
        for rule, ids in result.failed.items():
            for logical_id in ids:
                guard = meta.get(logical_id)
                rules = guard.get("SuppressedRules", []) if isinstance(guard, dict) else []
                (suppressed if rule in rules else unsuppressed)[rule] += 1
    return Summary(len(known), applied, applied - failed, suppressed, unsuppressed)


def _expanded(path: Path) -> dict[str, Any]:
    return expand_document(
        load_template(path),
        region=cases.REGION,
        account_id=cases.ACCOUNT,
        prefix_list_id=cases.PREFIX_LIST,
    )


def sam_transformed(path: Path) -> dict[str, Any]:
    """The macro stack as CloudFormation provisions it: SAM's transform turns the
    AWS::Serverless::Function, which no rule reads, into the AWS::Lambda::Function the
    rules check (Metadata passed on). ``sam package`` would first make CodeUri an S3 URI."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    template = load_template(path)
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://code-bucket/macro.zip"
    session = boto3.Session(region_name=cases.REGION)
    out: dict[str, Any] = Translator({}, Parser(), boto_session=session).translate(
        template, parameter_values={}
    )
    return out


def templates_to_check() -> dict[str, dict[str, Any]]:
    """By file name: every success golden output, the macro stacks template.py writes
    (reviewed copies in tests/snapshots/), and the example stacks expanded."""
    snapshots = ROOT / "tests" / "snapshots"
    found = {f"golden-{name}.json": cases.expected(name) for name in cases.success_names()}
    found["macro.json"] = sam_transformed(snapshots / "macro.yaml")
    found["macro-stackset.json"] = load_template(snapshots / "macro-stackset.yaml")
    found["example.json"] = _expanded(snapshots / "example.yaml")
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        found[f"examples-{path.stem}.json"] = _expanded(path)
    return found


def write(templates: Mapping[str, Mapping[str, Any]], folder: Path) -> None:
    for name, template in templates.items():
        (folder / name).write_text(json.dumps(template), encoding="utf-8")


def main() -> int:
    import tempfile

    templates = templates_to_check()
    with tempfile.TemporaryDirectory() as folder:
        write(templates, Path(folder))
        results = run(Path(folder))
    known = rule_names(rules_dir())
    print(f"templates: {len(templates)}")
    print("\n".join(summarise(templates, results, known).lines()))
    for file in sorted(results):
        for line in problems(file, templates[file], results[file], known):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
