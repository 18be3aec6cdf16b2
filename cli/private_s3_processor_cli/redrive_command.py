"""``private-s3-processor redrive``'s command line: the AWS clients its options choose,
a line per message on stdout (text or JSON), a summary on stderr, the exit status.
What redrive does with the queue is ``redrive``'s."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    SSOError,
    TokenRetrievalError,
)

from .local.emulator import CREDENTIALS
from .output import fail
from .redrive import CLIENTS, RedriveError, locate, redrive


def clients(args: argparse.Namespace) -> dict[str, Any]:
    """The AWS clients of the command line's choice. With ``--endpoint-url`` and no
    ``--profile``: the local emulator's dummy credentials (and, without ``--region``,
    its region), so the local flow's endpoint works as printed; otherwise the SDK's
    standard chain, with ``AWS_REGION`` before ``AWS_DEFAULT_REGION`` as the AWS CLI v2
    and the other SDKs read them (boto3 reads only the latter): "AWS_REGION ... overrides
    the values in the environment variable AWS_DEFAULT_REGION and the profile setting
    region" (https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-envvars.html,
    https://docs.aws.amazon.com/sdkref/latest/guide/feature-region.html)."""
    import boto3

    if args.endpoint_url and not args.profile:
        session = boto3.session.Session(
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=CREDENTIALS["AWS_SESSION_TOKEN"],
            region_name=args.region or CREDENTIALS["AWS_REGION"],
        )
    else:
        region = args.region or os.environ.get("AWS_REGION") or None
        session = boto3.session.Session(profile_name=args.profile, region_name=region)
    make: Callable[..., Any] = session.client  # one call for the six services
    # Creating a client already fails without a region (botocore's NoRegionError).
    return {name: make(name, endpoint_url=args.endpoint_url) for name in CLIENTS}


def _with_the_fix(exc: Exception, profile: str | None) -> str:
    """The SDK's message, and what the user does about it when the cause is where the
    command runs (profile, credentials, region) rather than in the account."""
    named = f"--profile {profile}" if profile else f"AWS_PROFILE={os.environ.get('AWS_PROFILE')}"
    if isinstance(exc, ProfileNotFound):
        return (
            f"{exc} ({named}): give a profile `aws configure list-profiles` shows, or create "
            "it with `aws configure --profile NAME`"
        )
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return (
            f"{exc}: run `aws configure` (or `aws sso login`), give --profile or set "
            "AWS_PROFILE, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(exc, SSOError | TokenRetrievalError):
        return f"{exc}: run `aws sso login" + (f" --profile {profile}`" if profile else "`")
    if isinstance(exc, NoRegionError):
        return f"{exc} Give --region, or set AWS_REGION (or AWS_DEFAULT_REGION)."
    return str(exc)


def _printer(as_json: bool) -> Callable[[dict[str, Any]], None]:
    def say(line: dict[str, Any]) -> None:
        if as_json:
            text = json.dumps(line, ensure_ascii=False)
            if len(text.splitlines()) != 1 or not text.isprintable():
                text = json.dumps(line)  # a line break or surrogate in a key: escape it
            print(text, flush=True)
            return
        what = line.get("upload") or f"message {line['message']}"
        # A library's message may span lines; a line per message is the contract.
        detail = " ".join(str(line.get("started") or line.get("reason") or "").split())
        if "delivered_key" in line:
            detail += f" (key recovered; delivered as {json.dumps(line['delivered_key'])})"
        print(f"{line['action']} {what} {detail}".rstrip(), flush=True)

    return say


def run_redrive(args: argparse.Namespace) -> int:
    """The ``redrive`` subcommand: arguments in, a line per message out, a summary on
    stderr; exit 1 when any message was kept or nothing could be read."""
    try:
        aws = clients(args)
        deployed = locate(aws, args.stack, args.processor)
        report = redrive(
            aws,
            deployed,
            dry_run=args.dry_run,
            say=_printer(args.json),
            search_limit=args.search_limit,
        )
    except (RedriveError, ClientError, BotoCoreError) as exc:
        return fail("redrive", [_with_the_fix(exc, args.profile)])
    verb = "would re-submit" if args.dry_run else "re-submitted"
    count = len(report.lines) - report.kept if args.dry_run else report.resubmitted
    searched = f", {report.examined:,} object versions listed" if report.examined else ""
    print(
        f"{deployed.processor} ({deployed.delivery}): {verb} {count}, kept {report.kept}"
        + searched,
        file=sys.stderr,
    )
    return 1 if report.kept else 0
