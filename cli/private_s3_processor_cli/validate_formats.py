"""``validate --format``: the findings as cfn-lint writes them (cfnlint/formatters), so
what reads cfn-lint's reports reads these: ``parseable`` (one a line), ``json``,
``sarif`` (SARIF 2.1.0, for code scanning) and ``junit`` (for CI test reports)."""

from __future__ import annotations

import hashlib
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from pathlib import PurePath
from urllib.parse import quote

from private_s3_processor.version import __version__

from .output import PROG
from .validate import RULES, Finding

SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
# Where each rule is explained: the project's README (it has no web address of its own).
README = 'README.md, "Command line", validate'
# Characters XML 1.0 cannot hold (its Char production), written as \uXXXX instead.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def parseable(findings: Sequence[Finding], files: Sequence[str]) -> str:
    """cfn-lint's ``parseable``: file:line:column:end_line:end_column:rule:message."""
    return "\n".join(
        f"{f.filename}:{f.line}:{f.column}:{f.end_line}:{f.end_column}:{f.rule.id}:{f.message}"
        for f in findings
    )


def as_json(findings: Sequence[Finding], files: Sequence[str]) -> str:
    """cfn-lint's ``json``: a list of matches with the same keys."""
    return json.dumps(
        [
            {
                "Id": _id(f),
                "ParentId": None,
                "Rule": {
                    "Id": f.rule.id,
                    "Description": f.rule.description,
                    "ShortDescription": f.rule.short,
                    "Source": README,
                },
                "Location": {
                    "Start": {"ColumnNumber": f.column, "LineNumber": f.line},
                    "End": {"ColumnNumber": f.end_column, "LineNumber": f.end_line},
                    "Path": list(f.path) if f.path else None,
                },
                "Level": f.rule.level.capitalize(),
                "Message": f.message,
                "Filename": f.filename,
            }
            for f in findings
        ],
        indent=4,
        ensure_ascii=False,
    )


def _id(f: Finding) -> str:
    """A stable ID of a finding (cfn-lint's is a hash too)."""
    text = f"{f.filename}\0{f.rule.id}\0{f.line}\0{f.column}\0{f.message}"
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def sarif(findings: Sequence[Finding], files: Sequence[str]) -> str:
    """SARIF 2.1.0 (OASIS), shaped as cfn-lint's: one run, the rules that matched."""
    used = sorted({f.rule.id for f in findings})
    run = {
        "tool": {
            "driver": {
                "name": PROG,
                "version": __version__,
                "rules": [
                    {
                        "id": rule_id,
                        "shortDescription": {"text": RULES[rule_id].short},
                        "fullDescription": {"text": f"{RULES[rule_id].description} ({README})"},
                    }
                    for rule_id in used
                ],
            }
        },
        "originalUriBaseIds": {
            "EXECUTIONROOT": {"description": {"text": "The directory validate was run in."}}
        },
        "results": [_result(f) for f in findings],
    }
    log = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(log, indent=2, ensure_ascii=False)


def _result(f: Finding) -> dict[str, object]:
    location: dict[str, object] = {"artifactLocation": _artifact(f.filename)}
    if f.line > 0:  # SARIF's lines and columns start at 1: no region when unknown
        region = {"startLine": f.line, "endLine": max(f.end_line, f.line)}
        if f.column > 0:
            region["startColumn"] = f.column
            region["endColumn"] = max(f.end_column, f.column)
        location["region"] = region
    return {
        "ruleId": f.rule.id,
        "level": f.rule.level,
        "message": {"text": f.message},
        "locations": [{"physicalLocation": location}],
    }


def _artifact(filename: str) -> dict[str, str]:
    path = PurePath(filename)
    if path.is_absolute():
        return {"uri": "file://" + quote(path.as_posix())}
    return {"uri": quote(path.as_posix()), "uriBaseId": "EXECUTIONROOT"}


def junit(findings: Sequence[Finding], files: Sequence[str]) -> str:
    """JUnit XML: a test suite per template, a failing test case per finding (a warning
    is a failure of type ``warning``, as cfn-lint counts it), one passing case for a
    template with none."""
    root = ET.Element("testsuites", name=f"{PROG} validate")
    total = 0
    for filename in dict.fromkeys(files):
        own = [f for f in findings if f.filename == filename]
        suite = ET.SubElement(
            root,
            "testsuite",
            name=_xml(filename),
            tests=str(max(len(own), 1)),
            failures=str(len(own)),
            errors="0",
        )
        total += len(own)
        if not own:
            ET.SubElement(suite, "testcase", classname=_xml(filename), name="validate")
        for f in own:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=_xml(filename),
                name=_xml(f"{f.rule.id} {f.rule.short} at {f.line}:{f.column}"),
            )
            failure = ET.SubElement(
                case,
                "failure",
                type=f.rule.level,
                message=_xml(f.message),
            )
            failure.text = _xml(f"{f.message} at {f.filename}:{f.line}:{f.column}")
    root.set("tests", str(sum(int(s.get("tests") or 0) for s in root)))
    root.set("failures", str(total))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode")


def _xml(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


FORMATTERS: dict[str, Callable[[Sequence[Finding], Sequence[str]], str]] = {
    "parseable": parseable,
    "json": as_json,
    "sarif": sarif,
    "junit": junit,
}
