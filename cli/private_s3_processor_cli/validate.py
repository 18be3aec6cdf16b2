"""``private-s3-processor validate TEMPLATE...``: what the macro would refuse in each
template, and what it would warn about, without writing an expansion. It runs the same
expansion ``expand`` runs (so every limit the macro enforces is checked) and keeps only
the problems, each placed at the line and column of what it names.

Exit codes are cfn-lint's ("Exit codes" in its README): 2 when an error was found, 4
when a warning was, OR'ed over every template (6: both); 0 when nothing was found. Bad
usage exits 1, as every command of this tool and cfn-lint's own usage errors do."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from private_s3_processor import ExpansionError
from private_s3_processor.rules import TYPE_NAME

from .loader import STDIN, Parsed, TemplateSyntaxError, parse_located, source_name
from .loader_positions import Path, Positions
from .output import fail
from .templates import (
    OFFLINE_PREFIX_LIST,
    command_problems,
    expand_document,
    has_processors,
    not_a_template,
)

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Rule:
    """What kind of problem a finding is. The IDs use cfn-lint's letters and its range
    reserved for rules of others (E9xxx, W9xxx: "Reserved for users rules"), so a report
    merged with cfn-lint's never collides; E0000 is cfn-lint's own ID for the same thing
    (the file is not a template it can read)."""

    id: str
    level: str
    short: str
    description: str


RULES = {
    rule.id: rule
    for rule in (
        Rule(
            "E0000",
            ERROR,
            "Template cannot be read",
            "The file is missing, too large, not UTF-8, not JSON or YAML, or hostile "
            "(duplicate keys, aliases expanding too far, nesting too deep).",
        ),
        Rule(
            "E9001",
            ERROR,
            "The PrivateS3Processor transform refuses the template",
            "The macro would fail the change set with this message: a property, a "
            "resource, or a limit AWS enforces at deploy time.",
        ),
        Rule(
            "E9002",
            ERROR,
            "CloudFormation refuses the template before the transform runs",
            "A PrivateS3Processor resource in a template that does not declare "
            "Transform: PrivateS3Processor.",
        ),
        Rule(
            "W9001",
            WARNING,
            "The template deploys, but deserves a look",
            "The macro would log this warning (expand prints it on stderr).",
        ),
    )
}
EXIT_BITS = {ERROR: 2, WARNING: 4}  # cfn-lint's; 8 (informational) is never produced


@dataclass(frozen=True)
class Finding:
    """One problem of one file; lines and columns are 1-based, 0 when unknown (reported
    at 1:1, ``reported``)."""

    filename: str
    rule: Rule
    message: str
    line: int = 0
    column: int = 0
    end_line: int = 0
    end_column: int = 0
    path: Path | None = None


@dataclass(frozen=True)
class Request:
    """What the expansion assumes: the stack's Region and account, parameter values."""

    region: str
    account_id: str
    parameters: Mapping[str, str]


def exit_code(findings: Iterable[Finding]) -> int:
    code = 0
    for finding in findings:
        code |= EXIT_BITS[finding.rule.level]
    return code


def run_validate(args: argparse.Namespace) -> int:
    """The command: every template checked, the findings printed in ``args.format``."""
    from .validate_formats import FORMATTERS

    if args.templates.count(STDIN) > 1:
        return fail("validate", [f"{STDIN} (standard input) can be read once"])
    parsed = [_parse(name) for name in args.templates]
    given = dict(args.parameter)
    declared = {n for p in parsed if isinstance(p, Parsed) for n in _parameters(p.data)}
    unknown = [name for name in given if name not in declared]
    if unknown:
        return fail("validate", [f"--parameter {n}: no template declares it" for n in unknown])
    findings: list[Finding] = []
    for item in parsed:
        if isinstance(item, Parsed):
            request = Request(args.region, args.account_id, _declared_by(item.data, given))
            findings.extend(check(item, request))
        else:
            findings.extend(item)
    files = [source_name(name) for name in args.templates]
    text = FORMATTERS[args.format](reported(findings), files)
    if text:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return exit_code(findings)


def reported(findings: list[Finding]) -> list[Finding]:
    """As cfn-lint reports them: each file's problems in line order, and a problem with no
    position (a template-wide limit, an unreadable file) at 1:1, since SARIF's and
    editors' lines start at 1 (GitHub code scanning needs region.startLine)."""

    def placed(f: Finding) -> Finding:
        line, column = max(f.line, 1), max(f.column, 1)
        return replace(
            f,
            line=line,
            column=column,
            end_line=max(f.end_line, line),
            end_column=max(f.end_column, column) if f.end_line <= line else f.end_column,
        )

    order = {name: i for i, name in enumerate(dict.fromkeys(f.filename for f in findings))}
    return sorted(map(placed, findings), key=lambda f: (order[f.filename], f.line, f.column))


def _parse(name: str) -> Parsed | list[Finding]:
    try:
        return parse_located(name)
    except TemplateSyntaxError as exc:
        filename = source_name(name)
        rule = RULES["E0000"]
        return [
            Finding(filename, rule, p.text, p.line or 0, p.column or 0, p.line or 0, p.column or 0)
            for p in exc.problems
        ]


def _parameters(data: Any) -> list[str]:
    parameters = data.get("Parameters") if isinstance(data, dict) else None
    return list(parameters) if isinstance(parameters, dict) else []


def _declared_by(data: Any, given: Mapping[str, str]) -> dict[str, str]:
    names = set(_parameters(data))
    return {k: v for k, v in given.items() if k in names}


def check(parsed: Parsed, request: Request) -> list[Finding]:
    """Every problem the macro would refuse in one parsed file, and its warnings."""
    template = parsed.data
    problem = not_a_template(template)
    if problem is not None:
        return [Finding(parsed.name, RULES["E0000"], problem)]
    declared = template.get("Transform")
    listed = declared if isinstance(declared, list) else [declared]
    if TYPE_NAME not in listed and not has_processors(template):
        return []  # CloudFormation never gives this template to the macro
    located = _Locator(parsed, template)
    findings = [located(RULES["E9002"], m) for m in command_problems(template, request.parameters)]
    warnings: list[str] = []
    try:
        expand_document(
            template,
            parameters=request.parameters,
            region=request.region,
            account_id=request.account_id,
            prefix_list_id=OFFLINE_PREFIX_LIST,
            warnings=warnings,
        )
    except ExpansionError as exc:
        findings += [located(RULES["E9001"], m) for m in exc.messages]
    findings += [located(RULES["W9001"], m) for m in warnings]
    return findings


# --- where a message points ------------------------------------------------------------

# The shapes of the macro's messages (errors.resource_error, references.Rewriter).
_RESOURCE = re.compile(
    r"Resource '(?P<id>[^']+)'(?:: (?:property '(?P<prop>[^']+)'|attribute '(?P<attr>[^']+)'"
    r"|'(?P<key>[^']+)'))?"
)
_SECTION = re.compile(r"(?P<word>Output|Condition|Metadata|Rule) '(?P<id>[^']+)'")
_SECTIONS = {
    "Output": "Outputs",
    "Condition": "Conditions",
    "Metadata": "Metadata",
    "Rule": "Rules",
}
_LOGICAL_ID = re.compile(r"Template: logical ID '(?P<id>[^']+)'")
_PROPERTY_PART = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def message_path(message: str, template: Mapping[str, Any]) -> Path | None:
    """The template path a message of the macro is about, as far as it says."""
    if match := _RESOURCE.match(message):
        base: Path = ("Resources", match["id"])
        if match["prop"]:
            parts = _PROPERTY_PART.findall(match["prop"])
            return (*base, "Properties", *(int(i) if i else k for i, k in parts))
        key = match["attr"] or match["key"]
        return (*base, key) if key else base
    if match := _SECTION.match(message):
        return (_SECTIONS[match["word"]], match["id"])
    if match := _LOGICAL_ID.match(message):
        for section in ("Resources", "Parameters", "Outputs", "Conditions", "Mappings"):
            if isinstance(template.get(section), dict) and match["id"] in template[section]:
                return (section, match["id"])
        return None
    if message.startswith("Template format error: Unrecognized resource types"):
        resources = template.get("Resources")
        for name, resource in resources.items() if isinstance(resources, dict) else ():
            if isinstance(resource, dict) and resource.get("Type") == TYPE_NAME:
                return ("Resources", name, "Type")
    return None


class _Locator:
    """Findings of one file, placed at the nearest key written: the property, else the
    closest enclosing key (a missing property: its resource's Properties), else none."""

    def __init__(self, parsed: Parsed, template: Mapping[str, Any]) -> None:
        self.name = parsed.name
        self.positions: Positions = parsed.positions
        self.template = template

    def __call__(self, rule: Rule, message: str) -> Finding:
        message = " ".join(message.split())  # one line, whatever a library wrote
        path = message_path(message, self.template)
        for end in range(len(path) if path else 0, 0, -1):
            known = self.positions.get(path[:end]) if path else None
            if known is not None:
                line, column = known[0] + 1, known[1] + 1
                key = path[end - 1] if path else ""
                width = len(key) if isinstance(key, str) else 0
                return Finding(self.name, rule, message, line, column, line, column + width, path)
        return Finding(self.name, rule, message, path=path)
