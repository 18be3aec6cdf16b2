"""Deploying on the engine: the macro stack from ``build/macro.yaml``, and templates that
name the macro in ``Transform:``; waiting for, describing and deleting stacks."""

from __future__ import annotations

import io
import json
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from cfn_tools import load_yaml  # type: ignore[import-untyped]

from integration.engine import ROOT, Engine

MACRO_TEMPLATE = ROOT / "build" / "macro.yaml"
# What `sam build` put in the bundle (make build): the Lambda's code and its pinned
# dependencies, exactly as `sam deploy` would upload them.
MACRO_CODE = ROOT / ".aws-sam" / "build" / "MacroFunction"
CODE_BUCKET = "private-s3-processor-integration-code"
# CloudFormation quotas: a template body in the request is at most 51,200 bytes; up to
# 1 MB it must come from S3 (TemplateURL).
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html
TEMPLATE_BODY_BYTES = 51_200
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
FINAL = {
    "CREATE_COMPLETE",
    "CREATE_FAILED",
    "ROLLBACK_COMPLETE",
    "ROLLBACK_FAILED",
    "DELETE_COMPLETE",
    "DELETE_FAILED",
    "UPDATE_COMPLETE",
    "UPDATE_ROLLBACK_COMPLETE",
}
WAIT_WITHIN = 180.0


@dataclass
class Outcome:
    name: str
    status: str
    reason: str
    seconds: float
    failures: list[str] = field(default_factory=list)


def macro_zip() -> bytes:
    if not (MACRO_CODE / "private_s3_processor").is_dir():
        raise FileNotFoundError(f"{MACRO_CODE.relative_to(ROOT)} is missing: run `make build`")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(MACRO_CODE.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(MACRO_CODE).as_posix())
    return buffer.getvalue()


def macro_template(engine: Engine) -> dict[str, Any]:
    """``build/macro.yaml`` as ``sam deploy`` sends it: the SAM template, its ``CodeUri``
    replaced by where the bundle was uploaded. The engine runs the SAM transform itself."""
    s3 = engine.client("s3")
    s3.create_bucket(
        Bucket=CODE_BUCKET, CreateBucketConfiguration={"LocationConstraint": s3.meta.region_name}
    )
    s3.put_object(Bucket=CODE_BUCKET, Key="macro.zip", Body=macro_zip())
    template: dict[str, Any] = load_yaml(MACRO_TEMPLATE.read_text(encoding="utf-8"))
    template["Resources"]["MacroFunction"]["Properties"]["CodeUri"] = {
        "Bucket": CODE_BUCKET,
        "Key": "macro.zip",
    }
    return template


def create(
    engine: Engine,
    name: str,
    template: dict[str, Any] | str,
    parameters: dict[str, str] | None = None,
    clients: tuple[Any, Any] | None = None,
) -> None:
    """Create a stack from a template: text is sent as written (YAML short tags and all);
    past CreateStack's TemplateBody limit it goes through S3, as the AWS CLI's --s3-bucket."""
    cfn, s3 = clients or (engine.client("cloudformation"), engine.client("s3"))
    body = template if isinstance(template, str) else json.dumps(template)
    where: dict[str, str] = {"TemplateBody": body}
    if len(body.encode()) > TEMPLATE_BODY_BYTES:
        key = f"templates/{name}.yaml"
        s3.put_object(Bucket=CODE_BUCKET, Key=key, Body=body.encode())
        where = {"TemplateURL": f"{engine.url}/{CODE_BUCKET}/{key}"}
    cfn.create_stack(
        StackName=name,
        **where,
        Parameters=[
            {"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()
        ],
        Capabilities=CAPABILITIES,
    )


def create_all(
    engine: Engine, requests: list[tuple[str, str, dict[str, str]]]
) -> dict[str, Outcome]:
    """Create stacks from several threads: the engine runs the macro inside CreateStack,
    one Lambda process each, so sending them one by one waits on each in turn. A request
    the engine refuses becomes a REFUSED outcome carrying its error."""
    started = time.monotonic()
    # botocore clients are thread-safe, boto3's default session is not: made here, once.
    cfn, s3 = engine.client("cloudformation"), engine.client("s3")

    def one(request: tuple[str, str, dict[str, str]]) -> Outcome | None:
        name, template, parameters = request
        try:
            create(engine, name, template, parameters, clients=(cfn, s3))
        except ClientError as exc:
            return Outcome(name, "REFUSED", str(exc), time.monotonic() - started)
        return None

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(one, requests))
    return {answer.name: answer for answer in answers if answer is not None}


def wait(engine: Engine, names: list[str], started: float) -> dict[str, Outcome]:
    """Poll every stack until each reaches a final status; the time is to that status."""
    cfn = engine.client("cloudformation")
    outcomes: dict[str, Outcome] = {}
    deadline = time.monotonic() + WAIT_WITHIN
    while len(outcomes) < len(names) and time.monotonic() < deadline:
        for name in names:
            if name in outcomes:
                continue
            stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
            if stack["StackStatus"] in FINAL:
                outcomes[name] = Outcome(
                    name,
                    stack["StackStatus"],
                    stack.get("StackStatusReason") or "",
                    time.monotonic() - started,
                    # The failed resources say why; a complete stack has none to ask for.
                    []
                    if stack["StackStatus"] == "CREATE_COMPLETE"
                    else failed_resources(engine, name),
                )
        time.sleep(0.5)
    for name in names:
        outcomes.setdefault(
            name, Outcome(name, "TIMED_OUT", f"not final after {WAIT_WITHIN:.0f} s", WAIT_WITHIN)
        )
    return outcomes


def failed_resources(engine: Engine, name: str) -> list[str]:
    events = engine.client("cloudformation").describe_stack_events(StackName=name)["StackEvents"]
    return [
        f"{e['LogicalResourceId']} ({e['ResourceType']}): {e.get('ResourceStatusReason', '')}"
        for e in events
        if e["ResourceStatus"].endswith("_FAILED")
    ]


def processed(engine: Engine, name: str) -> dict[str, Any]:
    body = engine.client("cloudformation").get_template(StackName=name, TemplateStage="Processed")[
        "TemplateBody"
    ]
    result: dict[str, Any] = json.loads(body) if isinstance(body, str) else dict(body)
    return result


def resources(engine: Engine, name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = engine.client("cloudformation").describe_stack_resources(
        StackName=name
    )["StackResources"]
    return found


def delete(engine: Engine, names: list[str]) -> dict[str, str]:
    """Delete every stack and wait; a stack that is gone answers "does not exist"."""
    cfn = engine.client("cloudformation")
    statuses: dict[str, str] = {}
    for name in names:
        try:
            cfn.delete_stack(StackName=name)
        except ClientError as exc:
            # One stack the engine cannot delete must not keep the others from being asked.
            statuses[name] = f"DELETE_REFUSED: {exc}"
    deadline = time.monotonic() + WAIT_WITHIN
    while len(statuses) < len(names) and time.monotonic() < deadline:
        for name in names:
            if name in statuses:
                continue
            try:
                status = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
            except cfn.exceptions.ClientError as exc:
                if "does not exist" in str(exc):
                    statuses[name] = "DELETE_COMPLETE"
                    continue
                raise
            if status in ("DELETE_COMPLETE", "DELETE_FAILED"):
                statuses[name] = status
        time.sleep(0.5)
    return {name: statuses.get(name, "TIMED_OUT") for name in names}
