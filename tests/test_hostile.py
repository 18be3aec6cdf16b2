"""Hostile input never hangs, crashes or silently changes meaning (issue 11).

Every subcommand that reads a template runs, as a real process, on every file of
``tests/hostile`` (and on a few generated ones too big to keep): exit 1, nothing on
stdout, one line on stderr per problem, no traceback. Each run has a time bound and an
address-space bound, so a blow-up fails the test instead of hanging or eating the machine;
both are guards, far above what a run needs, not performance thresholds.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from private_s3_processor import ExpansionError
from private_s3_processor_cli.loader import MAX_BYTES, MAX_DEPTH, MAX_EXPANDED_NODES
from private_s3_processor_cli.templates import command_problems, load_template

from tests.conftest import cli
from tests.golden import cases

HOSTILE = Path(__file__).parent / "hostile"
COMMANDS = ("expand", "diagram", "cost", "local")
TIME_GUARD_S = 60
MEMORY_GUARD = 1 << 30
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker:1.0"
UNRECOGNIZED = "Template format error: Unrecognized resource types: [PrivateS3Processor]"
NESTED = f"nested more than {MAX_DEPTH} levels deep"

# What each file is refused for: a part of each stderr line, by command where they differ,
# and how many problems (lines) when more than one.
EXPECTED: dict[str, str | dict[str, str]] = {
    "alias_bomb.yaml": f"YAML aliases expand to more than {MAX_EXPANDED_NODES:,} values",
    "alias_cycle.yaml": "alias_cycle.yaml:3:9: a YAML alias refers to a node holding it",
    "alias_undefined.yaml": "found undefined alias 'nowhere'",
    "binary_junk.bin": "binary_junk.bin:1: not UTF-8 (byte 0xb4 at offset 1)",
    "binary_tag.yaml": "binary_tag.yaml:8:14: YAML tag !!binary is not supported",
    "control_character.yaml": "control_character.yaml:3:4: not valid YAML: character #x0000",
    "duplicate_in_properties.yaml": "Duplicate found",
    "duplicate_keys.json": "duplicate_keys.json:5:5: Duplicate found 'Invoices' (line 5), "
    "first on line 4",
    "duplicate_keys.yaml": "duplicate_keys.yaml:7:3: Duplicate found 'Invoices' (line 7), "
    "first on line 3",
    "empty.yaml": "empty.yaml: a template is a JSON/YAML object (this file is empty)",
    "list.json": "list.json: a template is a JSON/YAML object (this file is a list)",
    "list_key.yaml": "list_key.yaml:3:5: a mapping key must be a string",
    "missing_transform.yaml": UNRECOGNIZED,
    "nan.json": "not valid JSON: NaN is not a JSON value",
    "not_utf8.yaml": "not_utf8.yaml:3: not UTF-8 (byte 0xe9 at offset 46)",
    "null_key.yaml": "null_key.yaml:3:3: null key '~'",
    "null_resource.yaml": {
        "local": "has no resource of Type: PrivateS3Processor",
        "": "Resource 'A': must be a map (got null)",
    },
    "only_comments.yaml": "a template is a JSON/YAML object (this file is empty)",
    "other_transform_only.yaml": {"local": "private-s3-processor local: ", "": UNRECOGNIZED},
    "properties_list.yaml": "Resource 'A': 'Properties' must be a map",
    "python_tag.yaml": "could not determine a constructor for the tag",
    "resources_list.yaml": {
        "local": "has no resource of Type: PrivateS3Processor",
        "cost": "the template has no Resources map",
        "": "Template: 'Resources' must be a non-empty map",
    },
    "scalar.yaml": "a template is a JSON/YAML object (this file is a string)",
    "set_tag.yaml": "set_tag.yaml:7:16: YAML tag !!set is not supported",
    "tab_indentation.yaml": "tab_indentation.yaml:3:1: not valid YAML",
    "two_documents.yaml": "expected a single document in the stream",
    "unclosed.json": "unclosed.json:2:1: not valid JSON or YAML: Expecting ',' delimiter",
    "utf16.json": "utf16.json:1: not UTF-8 (byte 0xff at offset 0)",
}
# Problems per run where there is more than one (each on a line of its own).
PROBLEMS = {("duplicate_in_properties.yaml", command): 2 for command in COMMANDS} | {
    # Also: the emulator cannot run AWS::Serverless-2016-10-31.
    ("other_transform_only.yaml", "local"): 2,
}


def _guard_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_GUARD, MEMORY_GUARD))


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``private-s3-processor ARGS`` as ``tests.conftest.cli`` runs it, within the guards."""
    return cli(*args, timeout=TIME_GUARD_S, env=env, preexec_fn=_guard_memory)


def refused(result: subprocess.CompletedProcess[str], problems: int = 1) -> list[str]:
    """The stderr lines of a run that refused its input as the contract says."""
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr, result.stderr
    assert "internal error" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == problems, result.stderr
    return lines


def _for(command: str, expected: str | dict[str, str]) -> str:
    return expected.get(command, expected[""]) if isinstance(expected, dict) else expected


def test_every_hostile_file_has_an_expectation() -> None:
    assert sorted(p.name for p in HOSTILE.iterdir()) == sorted(EXPECTED)


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_command_refuses_every_hostile_file(name: str, command: str) -> None:
    expected = _for(command, EXPECTED[name])
    result = run(command, str(HOSTILE / name))
    # `local` refuses before it starts an emulator (it would announce one on stderr).
    assert "emulator at" not in result.stderr
    lines = refused(result, PROBLEMS.get((name, command), 1))
    assert expected in lines[0]
    if command in ("cost", "local"):
        assert all(line.startswith(f"private-s3-processor {command}: ") for line in lines)


def _nested_json(levels: int) -> str:
    inner = '{"Fn::Join": ["", [' * levels + '"x"' + "]]}" * levels
    return json.dumps(_processor({"X": "@"})).replace('"@"', inner)


def _nested_yaml(levels: int) -> str:
    """Short forms, in flow style: each ``!Join`` is a map and a list."""
    inner = "!Join ['', [" * levels + "x" + "]]" * levels
    return _processor_yaml(f"{{X: {inner}}}")


def _aliases_nesting(levels: int) -> str:
    """Each anchor nests the one before: shallow as written, deep once aliases expand."""
    chain = ["  l0: &l0 [x]"] + [f"  l{i}: &l{i} [*l{i - 1}]" for i in range(1, levels)]
    return "Metadata:\n" + "\n".join(chain) + "\n" + _processor_yaml("{}")


def _processor(environment: dict[str, str]) -> dict[str, object]:
    return {
        "Transform": "PrivateS3Processor",
        "Resources": {
            "Deep": {
                "Type": "PrivateS3Processor",
                "Properties": {"Image": IMAGE, "Environment": environment},
            }
        },
    }


def _processor_yaml(environment: str) -> str:
    return (
        "Transform: PrivateS3Processor\nResources:\n  Deep:\n    Type: PrivateS3Processor\n"
        f"    Properties:\n      Image: {IMAGE}\n      Environment: {environment}\n"
    )


# Generated: too big to keep, or built from the bounds themselves.
GENERATED: dict[str, tuple[Callable[[], str], str | dict[str, str]]] = {
    # 600 levels of Fn::Join raised RecursionError (in deepcopy, or json when in JSON).
    "deep.json": (lambda: _nested_json(600), NESTED),
    "deep.yaml": (lambda: _nested_yaml(600), NESTED),
    "deep_through_aliases.yaml": (lambda: _aliases_nesting(3 * MAX_DEPTH), NESTED),
    # Few values, many characters: a 200 KB scalar aliased through four levels of ten
    # would be 2 GB (it took 2.2 GB before the character bound).
    "scalar_bomb.yaml": (
        lambda: "\n".join(
            [f'a: &a "{"x" * 200_000}"']
            + [
                f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]"
                for p, n in zip("abcd", "bcde", strict=True)
            ]
        ),
        "YAML aliases expand to more than 1,000,000 characters",
    ),
    "huge_line.yaml": (
        lambda: "Description: " + "x" * 2 * MAX_BYTES,
        "more than 1,000,000 bytes; CloudFormation allows 1,000,000",
    ),
    # Under the size bound, so parsed: one long line is only slow to scan, never stuck.
    "long_line.yaml": (
        lambda: "Description: " + "x" * (MAX_BYTES - 100),
        {
            "local": "has no resource of Type: PrivateS3Processor",
            "cost": "the template has no Resources map",
            "": "Template: 'Resources' must be a non-empty map",
        },
    ),
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("name", sorted(GENERATED))
def test_every_command_refuses_generated_hostile_files(
    name: str, command: str, tmp_path: Path
) -> None:
    make, expected = GENERATED[name]
    path = tmp_path / name
    path.write_text(make(), encoding="utf-8")
    (line,) = refused(run(command, str(path)))
    assert _for(command, expected) in line


# --- the bounds, in process: what they let through ---------------------------------------


def test_depth_up_to_the_bound_is_read_one_more_is_not(tmp_path: Path) -> None:
    # The document, Resources, Deep, Properties, Environment: 5 levels; a Join 3 (its map,
    # its list, the list it joins).
    for suffix, make in ((".json", _nested_json), (".yaml", _nested_yaml)):
        fits, deeper = tmp_path / f"fits{suffix}", tmp_path / f"deeper{suffix}"
        joins = (MAX_DEPTH - 5) // 3
        fits.write_text(make(joins), encoding="utf-8")
        deeper.write_text(make(joins + 1), encoding="utf-8")
        assert load_template(fits)["Resources"]["Deep"]["Properties"]["Environment"]["X"]
        with pytest.raises(ExpansionError, match=NESTED):
            load_template(deeper)


def test_aliases_within_the_bound_expand_unshared(tmp_path: Path) -> None:
    path = tmp_path / "aliases.yaml"
    path.write_text(
        "Metadata:\n  Tags: &tags {Team: data, Cost: 1}\n"
        "  More: &more [*tags, *tags]\n  Again: *more\n",
        encoding="utf-8",
    )
    metadata = load_template(path)["Metadata"]
    assert metadata["Again"] == [{"Team": "data", "Cost": 1}] * 2
    metadata["Again"][0]["Team"] = "changed"  # the expansion may change one use
    assert metadata["Tags"]["Team"] == "data" and metadata["More"][0]["Team"] == "data"
    wide = tmp_path / "wide.yaml"
    items = ", ".join(["x"] * 1000)
    refs = ", ".join(["*a"] * (MAX_EXPANDED_NODES // 1001 + 1))
    wide.write_text(f"A: &a [{items}]\nB: [{refs}]\n", encoding="utf-8")
    with pytest.raises(ExpansionError, match="YAML aliases expand to more than"):
        load_template(wide)


def test_yaml_reads_as_cloudformation_does(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "\ufeffAWSTemplateFormatVersion: 2010-09-09\n"
        "Mappings:\n  Answers:\n    Yes: {No: 1}\n"
        "Defaults: &defaults {Cpu: 256, Memory: 512}\n"
        "Outputs:\n"
        "  Arn: {Value: !GetAtt Queue.Arn}\n"
        "  Url: {Value: !Sub '${Queue}', Other: !Ref Queue}\n"
        "  Sized:\n    <<: *defaults\n    Memory: 1024\n",
        encoding="utf-8",
    )
    template = load_template(path)
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    assert template["Mappings"] == {"Answers": {"Yes": {"No": 1}}}
    outputs = template["Outputs"]
    assert outputs["Arn"] == {"Value": {"Fn::GetAtt": ["Queue", "Arn"]}}
    assert outputs["Url"] == {"Value": {"Fn::Sub": "${Queue}"}, "Other": {"Ref": "Queue"}}
    assert outputs["Sized"] == {"Cpu": 256, "Memory": 1024}


def test_every_golden_input_loads_as_cfn_flip_loaded_it() -> None:
    """The bounds change nothing for real templates: the data is the old loader's."""
    from cfn_flip import load

    for name in cases.names():
        text = (cases.INPUT / f"{name}.yaml").read_text(encoding="utf-8")
        before = json.loads(json.dumps(load(text)[0]))
        assert load_template(cases.INPUT / f"{name}.yaml") == before, name


# --- the command line's own checks --------------------------------------------------------


def test_missing_transform_and_undeclared_parameters() -> None:
    processors = {"Resources": {"P": {"Type": "PrivateS3Processor"}}}
    assert command_problems(processors, {}) == [
        f"{UNRECOGNIZED} (the template has no Transform: PrivateS3Processor)"
    ]
    for transform in ("PrivateS3Processor", ["AWS::Serverless-2016-10-31", "PrivateS3Processor"]):
        assert command_problems({**processors, "Transform": transform}, {}) == []
    declared = {"Parameters": {"Known": {"Type": "String"}}, "Resources": {}}
    assert command_problems(declared, {"Known": "1"}) == []
    assert command_problems(declared, {"Known": "1", "A": "2", "B": "3"}) == [
        "Parameters: [A, B] do not exist in the template"
    ]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_parameter_the_template_does_not_declare(command: str) -> None:
    template = str(cases.INPUT / "defaults.yaml")
    (line,) = refused(run(command, template, "--parameter", "Nope=1"))
    assert line.endswith("Parameters: [Nope] do not exist in the template")


@pytest.mark.parametrize("command", COMMANDS)
def test_several_problems_one_line_each(command: str, tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"  # no Transform, and the golden case's six property errors
    path.write_text((cases.INPUT / "error_wrong_types.yaml").read_text(), encoding="utf-8")
    lines = refused(run(command, str(path), "--parameter", "Nope=1"), 8)
    assert UNRECOGNIZED in lines[0] and "Parameters: [Nope]" in lines[1]
    assert all("Resource 'Invoices': property" in line for line in lines[2:])


def test_output_into_a_folder_or_a_missing_folder(tmp_path: Path) -> None:
    template = str(cases.INPUT / "defaults.yaml")
    (line,) = refused(run("expand", template, "-o", str(tmp_path)))
    assert line == f"private-s3-processor expand: -o {tmp_path}: cannot write: Is a directory"
    missing = tmp_path / "no" / "out.json"
    (line,) = refused(run("expand", template, "-o", str(missing)))
    assert line.endswith("cannot write: No such file or directory")


@pytest.mark.parametrize("duration", ["nan", "inf", "-inf", "-1", "0"])
def test_cost_duration_must_be_a_finite_positive_number(duration: str) -> None:
    (line,) = refused(run("cost", str(cases.OUTPUT / "defaults.json"), f"--duration={duration}"))
    assert "the task duration must be more than 0 seconds, and finite" in line


@pytest.mark.parametrize(("files", "message"), [("abc", "invalid int value"), ("-1", "0 or more")])
def test_cost_files_must_be_a_count(files: str, message: str) -> None:
    (line,) = refused(run("cost", str(cases.OUTPUT / "defaults.json"), f"--files={files}"))
    assert message in line


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ('{"Resources": {"A": null}}', "Resource 'A': must be a map (got null)"),
        ('{"Resources": {"A": 5, "B": {}}}', "Resource 'A': must be a map (got 5)"),
        (
            '{"Resources": {"T": {"Type": "AWS::ECS::TaskDefinition", "Properties": []}}}',
            "the Properties of T must be a map",
        ),
        (
            '{"Resources": {"T": {"Type": "AWS::ECS::TaskDefinition", '
            '"Properties": {"Cpu": "lots", "Memory": 512}}}}',
            'the Cpu of T must be a number (got "lots")',
        ),
        (
            '{"Resources": {"T": {"Type": "AWS::ECS::TaskDefinition", '
            '"Properties": {"Cpu": 256, "Memory": [1]}}}}',
            "the Memory of T must be a number (got [1])",
        ),
        (
            '{"Resources": {"T": {"Type": "AWS::ECS::TaskDefinition", '
            '"Properties": {"Cpu": 256, "Memory": 512, "RuntimePlatform": "ARM64"}}}}',
            "the RuntimePlatform of T must be a map",
        ),
        (
            '{"Parameters": [], "Resources": {"T": {"Type": "AWS::ECS::TaskDefinition", '
            '"Properties": {"Cpu": {"Ref": "C"}, "Memory": 512}}}}',
            "the template's Parameters must be a map",
        ),
        (
            '{"Resources": {"T": {"Type": "AWS::ECS::TaskDefinition", '
            '"Properties": {"Cpu": {"Ref": ["C"]}, "Memory": 512}}}}',
            'the Cpu of T is a Ref to ["C"], not to a name',
        ),
        (
            '{"Resources": {"M": {"Type": "AWS::StepFunctions::StateMachine", '
            '"Properties": {"DefinitionSubstitutions": "x"}}}}',
            "the DefinitionSubstitutions of M must be a map",
        ),
    ],
)
def test_cost_on_malformed_resources(template: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(template, encoding="utf-8")
    (line,) = refused(run("cost", str(path)))
    assert line.startswith(f"private-s3-processor cost: {message}")


def _without_aws(**extra: str) -> dict[str, str]:
    """The environment with no AWS region, profile or credentials from anywhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return env | {
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",  # no instance-metadata wait
        **extra,
    }


def test_redrive_without_a_region() -> None:
    (line,) = refused(run("redrive", "--stack", "s", "--processor", "P", env=_without_aws()))
    assert line == (
        "private-s3-processor redrive: You must specify a region. "
        "Give --region, or set AWS_REGION (or AWS_DEFAULT_REGION)."
    )


def test_redrive_without_credentials() -> None:
    (line,) = refused(
        run(
            "redrive",
            "--stack",
            "s",
            "--processor",
            "P",
            env=_without_aws(AWS_DEFAULT_REGION="eu-west-1"),
        )
    )
    assert line.startswith(
        "private-s3-processor redrive: Unable to locate credentials: run `aws configure`"
    )
