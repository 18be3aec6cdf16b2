"""``private-s3-processor expand``: the contract of SPEC §2, run as a real process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from private_s3_processor.context import static_prefix_list
from private_s3_processor.errors import render
from private_s3_processor.handler import handle

from tests.conftest import cli
from tests.golden import cases


def test_expand_prints_the_processed_template() -> None:
    run = cli(
        "expand",
        str(cases.INPUT / "prefix_and_suffix.yaml"),
        "--region",
        cases.REGION,
        "--account-id",
        cases.ACCOUNT,
        "--s3-prefix-list-id",
        cases.PREFIX_LIST,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == cases.expected("prefix_and_suffix")
    assert run.stderr == ""


def test_offline_prefix_list_is_announced() -> None:
    run = cli("expand", str(cases.INPUT / "defaults.yaml"))
    assert run.returncode == 0
    assert "pl-00000000" in run.stderr
    assert '"DestinationPrefixListId": "pl-00000000"' in run.stdout


def test_output_file_and_parameters(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    run = cli(
        "expand",
        str(cases.INPUT / "parameters.yaml"),
        "-o",
        str(out),
        "--parameter",
        "Prefix=other/",
        "--parameter",
        "Cpu=1024",
        "--parameter",
        "Memory=3072",
        "--s3-prefix-list-id",
        "pl-1",
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    template = json.loads(out.read_text())
    td = template["Resources"]["ParametrisedTaskDefinition"]["Properties"]
    assert (td["Cpu"], td["Memory"]) == ("1024", "3072")
    pattern = template["Resources"]["ParametrisedRule"]["Properties"]["EventPattern"]
    assert pattern["detail"]["object"]["key"] == [{"wildcard": "other/*.parquet"}]


@pytest.mark.parametrize(
    "name", ["error_cpu_memory", "error_unknown_property", "error_wrong_types"]
)
def test_invalid_input_exit_1_nothing_on_stdout_same_message(name: str, tmp_path: Path) -> None:
    """A problem a line, the lines being what CloudFormation shows joined."""
    # The golden inputs are fragments (no Transform); as a user's file they need one.
    source = (cases.INPUT / f"{name}.yaml").read_text(encoding="utf-8")
    path = tmp_path / f"{name}.yaml"
    path.write_text("Transform: PrivateS3Processor\n" + source, encoding="utf-8")
    run = cli("expand", str(path))
    assert run.returncode == 1
    assert run.stdout == ""
    template = cases.load_template(cases.INPUT / f"{name}.yaml")
    response = handle(
        {
            "requestId": "r",
            "region": "us-east-1",
            "accountId": "123456789012",
            "fragment": template,
        },
        static_prefix_list("pl-1"),
    )
    lines = run.stderr.splitlines()
    assert render(lines) == response["errorMessage"]
    assert len(lines) == {"error_wrong_types": 6}.get(name, 1)


def test_missing_file(tmp_path: Path) -> None:
    run = cli("expand", str(tmp_path / "nope.yaml"))
    assert run.returncode == 1 and run.stdout == ""
    assert "cannot read" in run.stderr and "nope.yaml" in run.stderr


def test_unparsable_template(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("Resources: [unclosed\n")
    run = cli("expand", str(bad))
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr == (
        f"{bad}:2:1: not valid YAML: while parsing a flow sequence, "
        "expected ',' or ']', but got '<stream end>'\n"
    )


def test_bad_parameter_syntax() -> None:
    """A usage error is bad input like any other: exit 1, one line."""
    run = cli("expand", str(cases.INPUT / "defaults.yaml"), "--parameter", "novalue")
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr == (
        "private-s3-processor expand: argument --parameter: expected KEY=VALUE, "
        "got 'novalue' (see --help)\n"
    )


def test_other_transforms_are_kept_after_this_one() -> None:
    result = cases.expected("serverless")
    assert result["Transform"] == "AWS::Serverless-2016-10-31"
    assert result["Resources"]["Notifier"]["Type"] == "AWS::Serverless::Function"
