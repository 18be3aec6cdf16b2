"""``redrive``'s command line: where its credentials and region come from, and that
every way they can be missing is one line and exit 1, never a traceback."""

from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path

import pytest
from private_s3_processor_cli.commands import parser
from private_s3_processor_cli.local.emulator import CREDENTIALS
from private_s3_processor_cli.local.session import deploy
from private_s3_processor_cli.redrive_command import clients

from tests.conftest import cli, quiet

PROG = "private-s3-processor redrive"
TEMPLATE = """
Transform: PrivateS3Processor
Resources:
  Quiet:
    Type: PrivateS3Processor
    Properties:
      Image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/w:1
      Prefix: in/
"""


def without_aws(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment with no AWS region, profile or credentials from anywhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return env | {
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",  # no instance-metadata wait
        **extra,
    }


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr, result.stderr
    (line,) = result.stderr.splitlines()
    return line


def redrive(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return cli("redrive", "--stack", "s", "--processor", "P", *args, env=env, timeout=120)


# --- without --endpoint-url: the SDK's chain, and one line for what is missing ------------


def test_no_region(tmp_path: Path) -> None:
    assert one_line(redrive(env=without_aws(tmp_path))) == (
        f"{PROG}: You must specify a region. Give --region, or set AWS_REGION "
        "(or AWS_DEFAULT_REGION)."
    )


def test_no_credentials(tmp_path: Path) -> None:
    line = one_line(redrive("--region", "eu-west-1", env=without_aws(tmp_path)))
    assert line == (
        f"{PROG}: Unable to locate credentials: run `aws configure` (or `aws sso login`), "
        "give --profile or set AWS_PROFILE, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )


@pytest.mark.parametrize("endpoint", [[], ["--endpoint-url", "http://localhost:9"]])
def test_an_unknown_profile(tmp_path: Path, endpoint: list[str]) -> None:
    line = one_line(redrive("--profile", "nope", *endpoint, env=without_aws(tmp_path)))
    assert line == (
        f"{PROG}: The config profile (nope) could not be found (--profile nope): give a "
        "profile `aws configure list-profiles` shows, or create it with "
        "`aws configure --profile NAME`"
    )


def test_a_bad_search_limit(tmp_path: Path) -> None:
    for value in ("0", "x"):
        line = one_line(redrive("--search-limit", value, env=without_aws(tmp_path)))
        assert line.startswith(f"{PROG}: argument --search-limit: ")


# --- with --endpoint-url: the local emulator's region and dummy credentials ---------------


def _args(*argv: str) -> argparse.Namespace:
    return parser().parse_args(["redrive", "--stack", "s", "--processor", "P", *argv])


def _identity(client: object) -> tuple[str, str]:
    meta = client.meta  # type: ignore[attr-defined]
    credentials = client._request_signer._credentials  # type: ignore[attr-defined]
    return meta.region_name, credentials.access_key


def test_the_endpoint_gets_the_emulators_region_and_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Real credentials in the environment are not sent to an emulator.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "real")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    aws = clients(_args("--endpoint-url", "http://localhost:9"))
    assert {_identity(c) for c in aws.values()} == {
        (CREDENTIALS["AWS_REGION"], CREDENTIALS["AWS_ACCESS_KEY_ID"])
    }
    aws = clients(_args("--endpoint-url", "http://localhost:9", "--region", "ap-south-1"))
    assert _identity(aws["sqs"]) == ("ap-south-1", CREDENTIALS["AWS_ACCESS_KEY_ID"])
    # Without an endpoint: the SDK's chain.
    assert _identity(clients(_args())["sqs"]) == ("us-west-2", "AKIAREALKEY")


def test_a_profile_with_the_endpoint_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    config.write_text(
        "[profile lab]\nregion = eu-central-1\n"
        "aws_access_key_id = AKIALAB\naws_secret_access_key = lab\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    aws = clients(_args("--endpoint-url", "http://localhost:9", "--profile", "lab"))
    assert _identity(aws["s3"]) == ("eu-central-1", "AKIALAB")


def test_the_local_flow_as_the_readme_types_it(emulator: str, tmp_path: Path) -> None:
    """``redrive --stack … --endpoint-url …`` with nothing else set: no region, no
    credentials, no profile anywhere."""
    template = tmp_path / "quiet.yaml"
    template.write_text(TEMPLATE)
    with deploy(emulator, template, {}, quiet) as session:
        stack = session.stack
    env = without_aws(tmp_path)
    result = cli(
        "redrive", "--stack", stack, "--processor", "Quiet", "--endpoint-url", emulator, env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "Quiet (Direct): re-submitted 0, kept 0\n"


def test_every_option_says_what_it_does() -> None:
    (sub,) = (a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    red = sub.choices["redrive"]
    options = [a for a in red._actions if a.option_strings]
    assert {o for a in options for o in a.option_strings} >= {
        "--stack",
        "--processor",
        "--dry-run",
        "--json",
        "--search-limit",
        "--profile",
        "--region",
        "--endpoint-url",
    }
    assert [a.option_strings for a in options if not a.help] == []
    assert red.epilog and "Exit status" in red.epilog
