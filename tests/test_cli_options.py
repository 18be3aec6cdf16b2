"""The command line's standard options (issue 16): ``--version``, help for every option,
``--profile``/``--region`` and their environment variables, shell completion, and the
``local`` fixes (``--upload`` with ``=`` in names, ``--processor`` typos)."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from private_s3_processor.version import __version__
from private_s3_processor_cli.commands import parser
from private_s3_processor_cli.local import command as local_command
from private_s3_processor_cli.local.command import uploads
from private_s3_processor_cli.local.model import LocalError
from private_s3_processor_cli.main import main
from private_s3_processor_cli.redrive_command import clients

from tests.conftest import cli

REDRIVE = "private-s3-processor redrive"
TWO = "tests/golden/input/two_processors.yaml"


def commands(top: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """The top-level parser and each subcommand's, with their names."""
    yield "private-s3-processor", top
    for action in top._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def arguments(command: argparse.ArgumentParser) -> list[argparse.Action]:
    """A command's own arguments: not -h, not the subcommand slot."""
    return [
        a
        for a in command._actions
        if not isinstance(a, argparse._HelpAction | argparse._SubParsersAction)
    ]


# --- --version ---------------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out == f"private-s3-processor {__version__}\n"
    assert __version__ == "0.2.0"


# --- help for every option -----------------------------------------------------------------


def test_every_option_of_every_command_has_help() -> None:
    """Walks the parser: an option (or positional) added without help fails here."""
    missing = [
        f"{name} {'/'.join(a.option_strings) or a.dest}"
        for name, command in commands(parser())
        for a in arguments(command)
        if not (a.help or "").strip() or a.help == argparse.SUPPRESS
    ]
    assert missing == []


def test_expand_offline_context_options_say_what_they_are() -> None:
    (expand,) = [c for n, c in commands(parser()) if n == "expand"]
    helps = {a.dest: a.help or "" for a in arguments(expand)}
    assert "Region" in helps["region"] and "offline" in helps["region"]
    assert "account ID" in helps["account_id"]


# --- --profile / --region and the environment -------------------------------------------


def no_aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch | None = None) -> dict[str, str]:
    """An environment with no AWS settings at all but a config file of one profile, dev."""
    config = tmp_path / "config"
    config.write_text("[profile dev]\nregion = ap-southeast-2\n")
    credentials = tmp_path / "credentials"
    credentials.write_text("[dev]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = x\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    if monkeypatch:
        for key in [k for k in os.environ if k.startswith("AWS_")]:
            monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    return env


def redrive_args(*extra: str) -> argparse.Namespace:
    return parser().parse_args(["redrive", "--stack", "s", "--processor", "P", *extra])


@pytest.mark.parametrize(
    ("env", "extra", "region"),
    [
        ({"AWS_REGION": "eu-west-2", "AWS_DEFAULT_REGION": "us-east-1"}, [], "eu-west-2"),
        ({"AWS_DEFAULT_REGION": "us-east-1"}, [], "us-east-1"),
        ({"AWS_REGION": "eu-west-2"}, ["--region", "eu-north-1"], "eu-north-1"),
        ({"AWS_PROFILE": "dev"}, [], "ap-southeast-2"),
        ({}, ["--profile", "dev"], "ap-southeast-2"),
        ({"AWS_PROFILE": "dev", "AWS_REGION": "eu-west-2"}, [], "eu-west-2"),
    ],
)
def test_region_and_profile_come_from_where_the_aws_cli_reads_them(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    extra: list[str],
    region: str,
) -> None:
    """--region, then AWS_REGION, then AWS_DEFAULT_REGION, then the profile's region
    (AWS_PROFILE or --profile): the AWS CLI v2's order."""
    no_aws(tmp_path, monkeypatch)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    aws = clients(redrive_args(*extra))
    assert {c.meta.region_name for c in aws.values()} == {region}
    if "dev" in (env.get("AWS_PROFILE"), *extra):
        assert aws["sqs"]._request_signer._credentials.access_key == "AKIDEXAMPLE"


def one_line(run: subprocess.CompletedProcess[str]) -> str:
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.stdout == "" and "Traceback" not in run.stderr, run.stderr
    (line,) = run.stderr.splitlines()
    return line


def redrive(env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return cli("redrive", "--stack", "s", "--processor", "P", *extra, env=env, timeout=120)


def test_an_unknown_profile_in_aws_profile_names_the_variable_and_the_fix(
    tmp_path: Path,
) -> None:
    line = one_line(redrive(no_aws(tmp_path) | {"AWS_PROFILE": "nope"}))
    assert line.startswith(f"{REDRIVE}: The config profile (nope) could not be found")
    assert "AWS_PROFILE=nope" in line and "aws configure list-profiles" in line


def test_missing_credentials_name_the_fix(tmp_path: Path) -> None:
    line = one_line(redrive(no_aws(tmp_path), "--region", "eu-west-1"))
    assert line.startswith(f"{REDRIVE}: Unable to locate credentials: run `aws configure`")
    assert "AWS_ACCESS_KEY_ID" in line


def test_aws_region_alone_is_a_region(tmp_path: Path) -> None:
    """boto3 reads only AWS_DEFAULT_REGION; with AWS_REGION the command gets past the
    region to the credentials."""
    line = one_line(redrive(no_aws(tmp_path) | {"AWS_REGION": "eu-west-1"}))
    assert "Unable to locate credentials" in line


# --- shell completion ----------------------------------------------------------------------


def completion(shell: str) -> str:
    pytest.importorskip("shtab", reason="shtab writes the completion scripts")
    run = cli("completion", shell, timeout=60)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    return run.stdout


def option_strings() -> set[str]:
    return {o for _, c in commands(parser()) for a in c._actions for o in a.option_strings}


def subcommands() -> set[str]:
    return {name for name, _ in commands(parser())} - {"private-s3-processor"}


def test_bash_completion_is_valid_and_knows_every_command_and_option(tmp_path: Path) -> None:
    script = tmp_path / "complete.bash"
    script.write_text(completion("bash"))
    checked = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    words = set(script.read_text().replace("(", " ").replace(")", " ").split())
    assert subcommands() <= words
    assert option_strings() <= words


def bash_completes(script: Path, *words: str) -> list[str]:
    """What bash offers after ``private-s3-processor WORDS`` (the last word being typed)."""
    line = " ".join(["private-s3-processor", *words])
    program = (
        f"source {script}; COMP_WORDS=(private-s3-processor {' '.join(words)}); "
        f"COMP_CWORD={len(words)}; COMP_LINE='{line}'; COMP_POINT={len(line)}; "
        '_shtab_private_s3_processor; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_bash_completion_completes(tmp_path: Path) -> None:
    script = tmp_path / "complete.bash"
    script.write_text(completion("bash"))
    assert bash_completes(script, "lo") == ["local"]
    assert sorted(bash_completes(script, "redrive", "--pro")) == ["--processor", "--profile"]
    assert bash_completes(script, "completion", "''") == ["bash", "zsh"]
    assert bash_completes(script, "--ver") == ["--version"]
    # Choices an option's type checks itself complete too (expand's formats).
    assert bash_completes(script, "expand", "--format", "j") == ["json"]
    assert bash_completes(script, "expand", "--output", "y") == ["yaml"]


def test_redrive_refuses_an_endpoint_that_is_no_url(capsys: pytest.CaptureFixture[str]) -> None:
    """botocore's ValueError for it would read as an internal error: a usage error here."""
    with pytest.raises(SystemExit) as stop:
        parser().parse_args(["redrive", "--endpoint-url", "notaurl", "Q"])
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert "expected http(s)://HOST[:PORT], got 'notaurl'" in err and "\n" not in err.strip()


def test_zsh_completion_knows_every_command_and_option(tmp_path: Path) -> None:
    script = completion("zsh")
    assert script.startswith("#compdef private-s3-processor")
    for word in subcommands() | option_strings():
        assert word in script, word
    if shutil.which("zsh"):
        (tmp_path / "_private-s3-processor").write_text(script)
        checked = subprocess.run(["zsh", "-n", str(tmp_path / "_private-s3-processor")])
        assert checked.returncode == 0


def test_completion_without_shtab_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "shtab", None)  # import shtab -> ImportError
    assert main(["completion", "bash"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "private-s3-processor completion: shtab is not installed (pip install shtab): it "
        "writes the completion scripts\n"
    )


def test_completion_of_another_shell_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["completion", "fish"])
    assert stopped.value.code == 1
    assert "invalid choice: 'fish'" in capsys.readouterr().err


# --- local --upload PATH=KEY with '=' in names ----------------------------------------------


@pytest.fixture
def awkward(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("a+b=c.jpg", "photo=x.jpg", "a", "a=b", "plain.txt"):
        Path(name).write_text(name)
    Path("d=1").mkdir()
    (Path("d=1") / "x=y.csv").write_text("x")
    return tmp_path


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("a+b=c.jpg=images/a+b=c.jpg", [("a+b=c.jpg", "images/a+b=c.jpg")]),
        ("a+b=c.jpg", [("a+b=c.jpg", "a+b=c.jpg")]),  # exists as given: uploaded whole
        ("photo=x.jpg", [("photo=x.jpg", "photo=x.jpg")]),
        ("plain.txt=in/k=v.txt", [("plain.txt", "in/k=v.txt")]),  # '=' in the key only
        ("plain.txt", [("plain.txt", "plain.txt")]),
        ("a=b=c", [("a=b", "c")]),  # the last '=' that leaves an existing PATH
        ("a=b=", [("a=b", "a=b")]),  # empty KEY: the file's name
        ("d=1=in", [("d=1/x=y.csv", "in/x=y.csv")]),  # a folder holding '='
    ],
)
def test_upload_splits_at_the_last_equals_that_leaves_an_existing_path(
    awkward: Path, spec: str, expected: list[tuple[str, str]]
) -> None:
    assert [(p.as_posix(), k) for p, k in uploads([spec])] == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nope", "--upload nope: nope does not exist"),
        ("x=y=z", "--upload x=y=z: no file or folder at any PATH before an '=' "),
    ],
)
def test_upload_of_nothing_is_one_clear_line(awkward: Path, spec: str, message: str) -> None:
    with pytest.raises(LocalError) as raised:
        uploads([spec])
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


# --- local --processor: typos caught before any emulator starts -----------------------------


@pytest.fixture
def no_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    def started(*_: object) -> None:
        raise AssertionError("an emulator was started")

    monkeypatch.setattr(local_command, "emulator_at", started)


@pytest.mark.parametrize(
    ("chosen", "said"),
    [
        (
            ["--processor", "Invoces"],
            "--processor Invoces: no such processor; did you mean Invoices?",
        ),
        (["--processor", "receipts"], "no such processor; did you mean Receipts?"),
        (["--processor", "Zzz"], "--processor Zzz: no such processor; the template's processors"),
        ([], "the template has several processors (Invoices, Receipts): choose"),
    ],
)
def test_processor_choice_is_checked_before_the_stack(
    no_emulator: None, capsys: pytest.CaptureFixture[str], chosen: list[str], said: str
) -> None:
    assert main(["local", TWO, *chosen, "--upload", "README.md"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    (line,) = err.splitlines()
    assert said in line, line
    assert line.endswith("the template's processors: Invoices, Receipts") or not chosen


# --- the README documents them ----------------------------------------------------------


def test_the_readme_command_line_section_names_every_command_and_option() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("\n## Command line\n", 1)[1].split("\n## ", 1)[0]
    missing = sorted((subcommands() | option_strings()) - {"-h", "--help"})
    assert [word for word in missing if word not in section] == []
