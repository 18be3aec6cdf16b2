"""``validate TEMPLATE...``: every problem the macro would refuse (and every warning it
would log), one a line at ``file:line:column``, in cfn-lint's formats and exit codes."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from private_s3_processor import ExpansionError
from private_s3_processor_cli.main import main
from private_s3_processor_cli.templates import expand_document, has_processors, load_template

from tests.conftest import cli
from tests.golden import cases

# A processor with a bad Cpu (line 9), a nested bad VpcCidr (line 12) and no Image.
BAD = """\
Transform: PrivateS3Processor
Parameters:
  Unused: {Type: String, Default: x}
Resources:
  Topic:
    Type: AWS::SNS::Topic
  Invoices:
    Type: PrivateS3Processor
    Properties:
      Cpu: 300
      Network:
        AvailabilityZones: 2
        VpcCidr: 10.0.0.0/8
"""
# Deploys, but the whole-account exemption deserves a look.
WARNED = """\
Transform: PrivateS3Processor
Resources:
  Invoices:
    Type: PrivateS3Processor
    Properties:
      Image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/w:1
      AllowedPrincipalArns:
        - arn:aws:iam::123456789012:*
"""
GOOD = """\
Transform: PrivateS3Processor
Resources:
  Invoices:
    Type: PrivateS3Processor
    Properties:
      Image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/w:1
"""


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _validate(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = main(["validate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _parseable(out: str) -> list[list[str]]:
    """cfn-lint's parseable lines: file:line:col:end_line:end_col:rule:message."""
    return [line.split(":", 6) for line in out.splitlines()]


# --- what is found, and where --------------------------------------------------------


def test_each_problem_at_its_line_and_column(tmp_path: Path, capsys: Any) -> None:
    path = _write(tmp_path, "bad.yaml", BAD)
    code, out, err = _validate(capsys, path)
    assert (code, err) == (2, "")
    found = {(line, col, rule): msg for _, line, col, _, _, rule, msg in _parseable(out)}
    cpu = [k for k, m in found.items() if "'Cpu'" in m]
    assert cpu == [("10", "7", "E9001")]
    cidr = [k for k, m in found.items() if "'Network.VpcCidr'" in m]
    assert cidr == [("13", "9", "E9001")]
    # A missing property: the resource's Properties key, the nearest thing written.
    image = [k for k, m in found.items() if "'Image' is required" in m]
    assert image == [("9", "5", "E9001")]
    assert all(p[0] == path for p in _parseable(out))


def test_the_end_column_spans_the_key(tmp_path: Path, capsys: Any) -> None:
    path = _write(tmp_path, "bad.yaml", BAD)
    _, out, _ = _validate(capsys, path)
    cpu = next(p for p in _parseable(out) if "'Cpu'" in p[6])
    assert cpu[1:5] == ["10", "7", "10", "10"]


def test_json_templates_are_located_too(tmp_path: Path, capsys: Any) -> None:
    template = load_template(_write(tmp_path, "bad.yaml", BAD))
    text = json.dumps(template, indent=2)
    path = _write(tmp_path, "bad.json", text)
    _, out, _ = _validate(capsys, path)
    cpu = next(p for p in _parseable(out) if "'Cpu'" in p[6])
    lines = text.splitlines()
    assert lines[int(cpu[1]) - 1][int(cpu[2]) - 1 :].startswith('"Cpu": 300')
    cidr = next(p for p in _parseable(out) if "VpcCidr" in p[6])
    assert lines[int(cidr[1]) - 1][int(cidr[2]) - 1 :].startswith('"VpcCidr"')


def test_template_wide_problems_are_reported_at_the_start(tmp_path: Path, capsys: Any) -> None:
    """No key to point at: 1:1, as cfn-lint reports such a problem (and SARIF's lines
    start at 1)."""
    source = (cases.INPUT / "error_too_many_resources.yaml").read_text(encoding="utf-8")
    path = _write(tmp_path, "big.yaml", source)
    code, out, _ = _validate(capsys, path)
    assert code == 2
    resources = [p for p in _parseable(out) if "500 per template" in p[6]]
    assert [p[1:6] for p in resources] == [["1", "1", "1", "1", "E9001"]]


def test_problems_are_in_line_order(tmp_path: Path, capsys: Any) -> None:
    path = _write(
        tmp_path, "c.yaml", (cases.INPUT / "error_bad_choices.yaml").read_text(encoding="utf-8")
    )
    _, out, _ = _validate(capsys, path)
    lines = [(int(p[1]), int(p[2])) for p in _parseable(out)]
    assert len(lines) > 2 and lines == sorted(lines)


def test_missing_transform_points_at_the_processor(tmp_path: Path, capsys: Any) -> None:
    path = _write(tmp_path, "t.yaml", GOOD.replace("Transform: PrivateS3Processor\n", ""))
    code, out, _ = _validate(capsys, path)
    assert code == 2
    (problem,) = _parseable(out)
    assert problem[1:3] == ["3", "5"]  # the processor's Type
    assert problem[5] == "E9002" and "Unrecognized resource types" in problem[6]


@pytest.mark.parametrize("name", cases.error_names())
def test_every_golden_error_is_reported_and_located(name: str, capsys: Any) -> None:
    """What the macro refuses, validate reports: the same messages, one a line, each at
    its property, else its resource, when the message names one."""
    path = cases.INPUT / f"{name}.yaml"
    template = load_template(path)
    if "Transform" not in template and not has_processors(template):
        # CloudFormation never hands such a template to the macro.
        assert _validate(capsys, str(path)) == (0, "", "")
        return
    try:
        expand_document(template)
        pytest.fail("expected an error")
    except ExpansionError as exc:
        expected = exc.messages
    code, out, _ = _validate(capsys, str(path))
    assert code == 2
    found = [p for p in _parseable(out) if p[5] == "E9001"]
    # The same problems, in line order rather than the macro's.
    assert sorted(p[6] for p in found) == sorted(" ".join(m.split()) for m in expected)
    for problem in found:
        if problem[6].startswith("Resource '"):
            # Placed at its key: no resource of these files is on line 1 (where a problem
            # with no position is reported).
            assert int(problem[1]) > 1, problem


def test_warnings_count_as_warnings(tmp_path: Path, capsys: Any) -> None:
    code, out, _ = _validate(capsys, _write(tmp_path, "w.yaml", WARNED))
    assert code == 4
    (problem,) = _parseable(out)
    assert problem[5] == "W9001" and "exempts every principal" in problem[6]
    assert problem[1:3] == ["7", "7"]


def test_a_clean_template_prints_nothing(tmp_path: Path, capsys: Any) -> None:
    assert _validate(capsys, _write(tmp_path, "ok.yaml", GOOD)) == (0, "", "")


def test_a_template_without_the_transform_is_not_its_business(tmp_path: Path, capsys: Any) -> None:
    plain = "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n"
    assert _validate(capsys, _write(tmp_path, "plain.yaml", plain)) == (0, "", "")


def test_several_templates_or_their_exit_codes(tmp_path: Path, capsys: Any) -> None:
    bad = _write(tmp_path, "bad.yaml", BAD)
    warned = _write(tmp_path, "w.yaml", WARNED)
    good = _write(tmp_path, "ok.yaml", GOOD)
    code, out, _ = _validate(capsys, good, bad, warned)
    assert code == 6
    files = {p[0] for p in _parseable(out)}
    assert files == {bad, warned}
    assert _validate(capsys, good, warned)[0] == 4


def test_unreadable_and_hostile_files_are_errors(tmp_path: Path, capsys: Any) -> None:
    """As cfn-lint's E0000: the file is reported, the others still checked."""
    dup = _write(tmp_path, "dup.yaml", "Resources:\n  A: 1\n  A: 2\n")
    missing = str(tmp_path / "missing.yaml")
    warned = _write(tmp_path, "w.yaml", WARNED)
    code, out, err = _validate(capsys, dup, missing, warned)
    assert (code, err) == (6, "")
    lines = _parseable(out)
    assert [[*p[:3], p[5]] for p in lines[:2]] == [
        [dup, "3", "3", "E0000"],
        [missing, "1", "1", "E0000"],
    ]
    assert "Duplicate found 'A'" in lines[0][6] and "cannot read" in lines[1][6]


def test_not_a_map(tmp_path: Path, capsys: Any) -> None:
    code, out, _ = _validate(capsys, _write(tmp_path, "l.yaml", "- a\n"))
    assert code == 2 and "a template is a JSON/YAML object" in out


def test_stdin(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(BAD.encode())))
    code, out, _ = _validate(capsys, "-")
    assert code == 2
    assert {p[0] for p in _parseable(out)} == {"<stdin>"}


def test_stdin_twice_is_a_usage_error(capsys: Any) -> None:
    code, out, err = _validate(capsys, "-", "-")
    assert (code, out) == (1, "")
    assert err == "private-s3-processor validate: - (standard input) can be read once\n"


def test_parameters_go_to_the_templates_declaring_them(tmp_path: Path, capsys: Any) -> None:
    uses = GOOD.replace(
        "Transform: PrivateS3Processor\n",
        "Transform: PrivateS3Processor\nParameters:\n  Prefix: {Type: String}\n",
    ).replace("      Image:", "      Prefix: !Ref Prefix\n      Image:")
    with_parameter = _write(tmp_path, "p.yaml", uses)
    other = _write(tmp_path, "ok.yaml", GOOD)
    code, out, _ = _validate(capsys, with_parameter, other)
    assert code == 2 and "the transform must know this value" in out
    assert _validate(capsys, with_parameter, other, "--parameter", "Prefix=in/") == (0, "", "")
    code, out, err = _validate(capsys, other, "--parameter", "Prefx=in/")
    assert (code, out) == (1, "")
    assert err == "private-s3-processor validate: --parameter Prefx: no template declares it\n"


def test_validate_writes_no_expansion(tmp_path: Path) -> None:
    run = cli("validate", _write(tmp_path, "ok.yaml", GOOD))
    assert (run.returncode, run.stdout, run.stderr) == (0, "", "")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.yaml"]


def test_usage_errors_exit_1() -> None:
    run = cli("validate", "x.yaml", "--format", "pretty")
    assert (run.returncode, run.stdout) == (1, "")
    assert len(run.stderr.splitlines()) == 1 and "parseable" in run.stderr


# --- formats -------------------------------------------------------------------------


def test_json_format_is_cfn_lints(tmp_path: Path, capsys: Any) -> None:
    bad = _write(tmp_path, "bad.yaml", BAD)
    code, out, _ = _validate(capsys, bad, "--format", "json")
    assert code == 2
    matches = json.loads(out)
    cpu = next(m for m in matches if "'Cpu'" in m["Message"])
    assert cpu["Filename"] == bad and cpu["Level"] == "Error"
    assert cpu["Rule"]["Id"] == "E9001"
    assert cpu["Location"]["Start"] == {"LineNumber": 10, "ColumnNumber": 7}
    assert cpu["Location"]["Path"] == ["Resources", "Invoices", "Properties", "Cpu"]
    assert (
        json.loads(_validate(capsys, _write(tmp_path, "ok.yaml", GOOD), "--format", "json")[1])
        == []
    )


# The parts of the SARIF 2.1.0 schema (OASIS, sarif-schema-2.1.0.json) a consumer such
# as GitHub code scanning relies on: required properties, enums and bounds.
_MESSAGE = {"type": "object", "anyOf": [{"required": ["text"]}, {"required": ["id"]}]}
_REGION = {
    "type": "object",
    "properties": {
        k: {"type": "integer", "minimum": 1}
        for k in ("startLine", "startColumn", "endLine", "endColumn")
    },
}
_SARIF = {
    "type": "object",
    "required": ["version", "runs"],
    "properties": {
        "$schema": {"type": "string", "format": "uri"},
        "version": {"enum": ["2.1.0"]},
        "runs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["tool"],
                "properties": {
                    "tool": {
                        "type": "object",
                        "required": ["driver"],
                        "properties": {
                            "driver": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {
                                    "rules": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "required": ["id"],
                                            "properties": {
                                                "shortDescription": {"required": ["text"]},
                                                "fullDescription": {"required": ["text"]},
                                            },
                                        },
                                    }
                                },
                            }
                        },
                    },
                    "results": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["message"],
                            "properties": {
                                "message": _MESSAGE,
                                "ruleId": {"type": "string"},
                                "level": {"enum": ["none", "note", "warning", "error"]},
                                "locations": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "physicalLocation": {
                                                "type": "object",
                                                "anyOf": [
                                                    {"required": ["address"]},
                                                    {"required": ["artifactLocation"]},
                                                ],
                                                "properties": {
                                                    "artifactLocation": {
                                                        "type": "object",
                                                        "properties": {
                                                            "uri": {
                                                                "type": "string",
                                                                "format": "uri-reference",
                                                            }
                                                        },
                                                    },
                                                    "region": _REGION,
                                                },
                                            }
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def test_sarif_has_the_required_shape(tmp_path: Path, capsys: Any) -> None:
    bad = _write(tmp_path, "bad file.yaml", BAD)
    warned = _write(tmp_path, "w.yaml", WARNED)
    code, out, _ = _validate(capsys, bad, warned, str(tmp_path / "gone.yaml"), "--format", "sarif")
    assert code == 6
    log = json.loads(out)
    jsonschema.validate(log, _SARIF, format_checker=jsonschema.FormatChecker())
    (run,) = log["runs"]
    levels = {r["level"] for r in run["results"]}
    assert levels == {"error", "warning"}
    rules = {r["id"] for r in run["tool"]["driver"]["rules"]}
    assert rules == {r["ruleId"] for r in run["results"]} == {"E9001", "W9001", "E0000"}
    cpu = next(r for r in run["results"] if "'Cpu'" in r["message"]["text"])
    location = cpu["locations"][0]["physicalLocation"]
    assert location["region"] == {"startLine": 10, "startColumn": 7, "endLine": 10, "endColumn": 10}
    assert location["artifactLocation"]["uri"].endswith("bad%20file.yaml")
    # No position: line 1, column 1, never line 0 and never no region (SARIF's lines start
    # at 1; GitHub code scanning places an alert by region.startLine).
    gone = next(r for r in run["results"] if r["ruleId"] == "E0000")
    assert gone["locations"][0]["physicalLocation"]["region"]["startLine"] == 1


def test_sarif_of_a_clean_run(tmp_path: Path, capsys: Any) -> None:
    code, out, _ = _validate(capsys, _write(tmp_path, "ok.yaml", GOOD), "--format", "sarif")
    log = json.loads(out)
    jsonschema.validate(log, _SARIF, format_checker=jsonschema.FormatChecker())
    assert code == 0 and log["runs"][0]["results"] == []


def test_junit_parses_and_counts(tmp_path: Path, capsys: Any) -> None:
    bad = _write(tmp_path, "bad.yaml", BAD)
    good = _write(tmp_path, "ok.yaml", GOOD)
    warned = _write(tmp_path, "w.yaml", WARNED)
    code, out, _ = _validate(capsys, bad, good, warned, "--format", "junit")
    assert code == 6
    root = ET.fromstring(out)
    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {bad, good, warned}
    assert (
        int(suites[bad].get("failures") or 0) == len(suites[bad].findall("testcase/failure")) >= 3
    )
    assert (
        suites[good].findall("testcase/failure") == []
        and len(suites[good].findall("testcase")) == 1
    )
    (failure,) = suites[warned].findall("testcase/failure")
    assert failure.get("type") == "warning"
    assert int(root.get("failures") or 0) == sum(
        int(s.get("failures") or 0) for s in suites.values()
    )


def test_junit_survives_hostile_names(tmp_path: Path, capsys: Any) -> None:
    """XML 1.0 cannot hold most control characters; a file name can."""
    path = _write(tmp_path, "a\x01b\x1b.yaml", BAD)
    code, out, _ = _validate(capsys, path, "--format", "junit")
    assert code == 2
    root = ET.fromstring(out)
    assert root.find("testsuite") is not None


def test_merged_keys_point_at_where_they_are_written(tmp_path: Path, capsys: Any) -> None:
    """A value brought in by a YAML merge key is shown where it was written: the anchor."""
    source = (
        "Transform: PrivateS3Processor\n"
        "Metadata:\n"
        "  Shared: &shared\n"
        "    Cpu: 300\n"
        "Resources:\n"
        "  Invoices:\n"
        "    Type: PrivateS3Processor\n"
        "    Properties:\n"
        "      <<: *shared\n"
        "      Image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/w:1\n"
    )
    code, out, _ = _validate(capsys, _write(tmp_path, "m.yaml", source))
    assert code == 2
    (cpu,) = [p for p in _parseable(out) if "'Cpu'" in p[6]]
    assert cpu[1:3] == ["4", "5"]
