"""``expand``'s input and output: ``-`` reads standard input within the file's bounds,
``--format``/``--output`` choose JSON or YAML as the AWS CLI's ``--output`` does, and
``--output-file`` (``-o``) names the file; a format name is never taken for a file."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from private_s3_processor_cli.loader import MAX_BYTES
from private_s3_processor_cli.loader_yaml import parse_yaml
from private_s3_processor_cli.main import main

from tests.conftest import cli
from tests.golden import cases

TEMPLATE = (cases.INPUT / "defaults.yaml").read_text(encoding="utf-8")


def to_yaml(template: dict[str, Any]) -> str:
    from private_s3_processor_cli.templates import to_yaml as render

    return render(template)


def _stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


def _expand(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["expand", *argv])
    out, err = capsys.readouterr()
    return code, out, err


# --- stdin ---------------------------------------------------------------------------


def test_dash_reads_the_template_from_stdin(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(TEMPLATE, encoding="utf-8")
    from_file = cli("expand", str(path))
    run = cli("expand", "-", input=TEMPLATE)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == json.loads(from_file.stdout)
    assert run.stderr == from_file.stderr


def test_stdin_errors_name_stdin(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    _stdin(monkeypatch, b"Resources: [unclosed\n")
    code, out, err = _expand(capsys, "-")
    assert (code, out) == (1, "")
    assert err.startswith("<stdin>:2:1: not valid YAML")
    assert len(err.splitlines()) == 1


def test_stdin_keeps_the_size_bound(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    _stdin(monkeypatch, b"#" * (MAX_BYTES + 10))
    code, out, err = _expand(capsys, "-")
    assert (code, out) == (1, "")
    assert err.startswith(f"<stdin>: more than {MAX_BYTES:,} bytes")


def test_stdin_not_a_map_names_stdin(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    _stdin(monkeypatch, b"- a\n- b\n")
    code, _, err = _expand(capsys, "-")
    assert code == 1
    assert err == "<stdin>: a template is a JSON/YAML object (this file is a list)\n"


def test_no_stdin_at_all(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setattr("sys.stdin", None)
    code, out, err = _expand(capsys, "-")
    assert (code, out, err) == (1, "", "<stdin>: cannot read: no standard input\n")


# --- formats -------------------------------------------------------------------------


def test_yaml_output_keeps_short_forms_and_loads_back() -> None:
    run = cli("expand", str(cases.INPUT / "defaults.yaml"), "--format", "yaml")
    assert run.returncode == 0, run.stderr
    assert "!Ref " in run.stdout and "!GetAtt " in run.stdout and "!Sub " in run.stdout
    assert "Fn::" not in run.stdout and "Ref:" not in run.stdout
    as_json = cli("expand", str(cases.INPUT / "defaults.yaml"))
    assert parse_yaml(run.stdout) == json.loads(as_json.stdout)


@pytest.mark.parametrize("name", cases.success_names())
def test_yaml_of_every_golden_output_loads_back_exactly(name: str) -> None:
    """What ``--format yaml`` prints, read by the project's own loader, is the JSON."""
    expected = cases.expected(name)
    assert parse_yaml(to_yaml(expected)) == expected


@pytest.mark.parametrize(
    "value",
    [
        {"Fn::GetAtt": "Bucket.Arn"},  # the string form would load back as a list
        {"Fn::GetAtt": ["Db", {"Ref": "Attribute"}]},  # cfn-flip would fail to join
        {"Fn::GetAtt": ["A.B", "C"]},  # joined and split again elsewhere
        {"Fn::GetAtt": ["Db", "Endpoint.Address"]},
        {"Fn::Base64": 12},  # a short-form scalar loads back as a string
        {"Ref": None},
        {"Fn::ForEach::Topics": ["T", ["a"], {"${T}": {"Type": "AWS::SNS::Topic"}}]},
        {"Fn::": "x"},
        {"Fn::Join": ["", ["a", {"Ref": "B"}]]},  # never rewritten into Fn::Sub
        {"Condition": "IsProd"},
        {"k": ["0123", "yes", "No", "null", "~", "", "2010-09-09", "1e3", "<<", "=", "0x1F"]},
        {"<<": "merge?", "Yes": 1, "null": 2, "1": 3, "": 4},
        {"text": "line one\nline two\n", "cr": "a\rb", "tab": "\tx ", "nel": "a\x85b"},
        {"long": "word " * 80, "unicode": "é ✓ \u2028 😀"},
        {"n": [0, -1, 1.5, 1e300, 2**63, True, False, None]},
    ],
)
def test_yaml_round_trips_what_short_forms_cannot_hold(value: dict[str, Any]) -> None:
    assert parse_yaml(to_yaml({"Outputs": {"X": {"Value": value}}})) == {
        "Outputs": {"X": {"Value": value}}
    }


_KEYS = st.sampled_from(
    ["Ref", "Condition", "Fn::GetAtt", "Fn::Sub", "Fn::Join", "Fn::If", "Fn::X.Y", "Key"]
) | st.text(max_size=8)
_JSON: Any = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=3),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _JSON, max_size=4))
def test_yaml_round_trips_any_json(value: dict[str, Any]) -> None:
    assert parse_yaml(to_yaml(value)) == value


def test_output_is_the_aws_cli_format_option(
    capsys: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``expand media.yaml --output yaml`` used to write a file named ``yaml``."""
    monkeypatch.chdir(tmp_path)
    code, out, _ = _expand(capsys, str(cases.INPUT / "defaults.yaml"), "--output", "yaml")
    assert code == 0
    assert "!Ref " in out
    assert list(tmp_path.iterdir()) == []
    code, out, _ = _expand(capsys, str(cases.INPUT / "defaults.yaml"), "--output", "json")
    assert code == 0 and json.loads(out)["Resources"]


def test_output_with_a_file_name_is_a_usage_error(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    run = cli("expand", str(cases.INPUT / "defaults.yaml"), "--output", str(out))
    assert (run.returncode, run.stdout) == (1, "")
    assert not out.exists()
    assert len(run.stderr.splitlines()) == 1
    assert f"--output-file {out}" in run.stderr and "json" in run.stderr


def test_format_and_output_together_is_a_usage_error(capsys: Any) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["expand", "x.yaml", "--format", "json", "--output", "yaml"])
    assert stop.value.code == 1
    assert "not allowed with" in capsys.readouterr().err


def test_unknown_format_is_a_usage_error(capsys: Any) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["expand", "x.yaml", "--format", "xml"])
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert "xml" in err and "json" in err and "yaml" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("option", ["-o", "--output-file"])
def test_output_file_writes_the_file(option: str, tmp_path: Path, capsys: Any) -> None:
    target = tmp_path / "out.json"
    code, out, _ = _expand(capsys, str(cases.INPUT / "defaults.yaml"), option, str(target))
    assert (code, out) == (0, "")
    assert json.loads(target.read_text(encoding="utf-8"))["Resources"]


def test_output_file_named_yaml_writes_yaml(tmp_path: Path, capsys: Any) -> None:
    """As ``sam package --output-template-file x.yaml``: the name's extension, unless
    ``--format`` says otherwise."""
    target = tmp_path / "out.yaml"
    code, _, _ = _expand(capsys, str(cases.INPUT / "defaults.yaml"), "-o", str(target))
    text = target.read_text(encoding="utf-8")
    assert code == 0 and "!Ref " in text
    code, _, _ = _expand(
        capsys, str(cases.INPUT / "defaults.yaml"), "-o", str(target), "--format", "json"
    )
    assert code == 0 and json.loads(target.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["yaml", "json", "text", "table", "yaml-stream"])
def test_a_format_name_is_not_taken_for_a_file(
    name: str, capsys: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``-o yaml`` (kubectl's habit) would silently write a file named ``yaml``."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(["expand", str(cases.INPUT / "defaults.yaml"), "-o", name])
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert f"./{name}" in err and "--format" in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
    # Written as a path, the same name is a file like any other.
    code, _, _ = _expand(capsys, str(cases.INPUT / "defaults.yaml"), "-o", f"./{name}")
    assert code == 0 and (tmp_path / name).is_file()


def test_output_file_dash_is_stdout(
    capsys: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = _expand(capsys, str(cases.INPUT / "defaults.yaml"), "-o", "-")
    assert code == 0 and json.loads(out)["Resources"]
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_file_is_one_line(tmp_path: Path, capsys: Any) -> None:
    target = tmp_path / "missing" / "out.json"
    code, out, err = _expand(capsys, str(cases.INPUT / "defaults.yaml"), "-o", str(target))
    assert (code, out) == (1, "")
    assert err.startswith(f"private-s3-processor expand: -o {target}: cannot write")
    assert len(err.splitlines()) == 1


def test_invalid_template_writes_no_file(tmp_path: Path, capsys: Any) -> None:
    target = tmp_path / "out.json"
    code, _, _ = _expand(capsys, str(cases.INPUT / "error_cpu_memory.yaml"), "-o", str(target))
    assert code == 1 and not target.exists()


@pytest.mark.parametrize("name", cases.error_names())
def test_expand_prints_one_problem_a_line(name: str, capsys: Any) -> None:
    """README "Errors": each problem on a line of its own, CloudFormation's words."""
    from private_s3_processor import ExpansionError
    from private_s3_processor_cli.templates import load_template

    template = load_template(cases.INPUT / f"{name}.yaml")
    try:
        cases.expand_document(template)
    except ExpansionError as exc:
        messages = exc.messages
    code, out, err = _expand(capsys, str(cases.INPUT / f"{name}.yaml"))
    assert (code, out) == (1, "")
    # Most golden inputs have no Transform: the command line says so first.
    lines = [
        line
        for line in err.splitlines()
        if not line.startswith("Template format error: Unrecognized resource types")
    ]
    assert lines == [" ".join(m.split()) for m in messages]
    assert not any(line.startswith(f"{len(messages)} errors:") for line in lines)


def _usage_error(capsys: Any, *argv: str) -> str:
    with pytest.raises(SystemExit) as stop:
        main(["expand", *argv])
    assert stop.value.code == 1
    out, err = capsys.readouterr()
    assert out == ""
    return err


@pytest.mark.parametrize("word", ["text", "table", "yaml-stream"])
def test_other_aws_cli_formats_do_not_suggest_a_file_the_file_option_refuses(
    word: str, capsys: Any
) -> None:
    err = _usage_error(capsys, "t.yaml", "--output", word)
    assert "is not a format: json or yaml" in err and "--output-file" not in err


@pytest.mark.parametrize("word", ["YAML", "Json"])
def test_a_format_name_in_capitals_is_no_file_either(word: str, capsys: Any) -> None:
    assert "is a format, not a file" in _usage_error(capsys, "t.yaml", "-o", word)
