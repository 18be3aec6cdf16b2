"""``private-s3-processor local``: the whole flow on one machine, on the moto server.

S3 upload -> S3's EventBridge event -> each processor's rule pattern -> the rule
target's InputTransformer -> ECS RunTask -> the worker as a local process
(``Delivery: Orchestrated``: -> StartExecution -> the state machine, run by
``states.py`` -> runTask.sync -> the worker).

The template is expanded by the macro's own code and created as a stack in the
emulator. Where moto falls short of AWS (SPEC §5) the flow works around it with
ordinary AWS API calls and says so in DESIGN.md; it never invents a result:

- a bucket's notification and versioning settings from CloudFormation are ignored:
  both are set on each processor's bucket with the S3 API, as the template says;
- its task definitions lose cpu, memory and network mode, its rule targets their
  network configuration, and its RunTask wants a container-level memory and VPC DNS
  hostnames: the task definition is registered again from the template, the network
  configuration comes from the template, and DNS hostnames are set on the VPC;
- moto delivers S3 events to rules but does not run ECS targets (one raising stops
  the delivery to later rules) nor apply InputTransformers to S3 events: a "tap"
  rule, created before the stack so it is evaluated first, copies every S3 event to
  an SQS queue, and this module plays the rules' targets from there: the pattern as
  stored in the emulator, the target's InputTransformer as stored, then ``RunTask``;
- moto names the event's ETag field ``eTag`` where AWS documents ``etag``: the event
  is put in the documented shape before the transformer reads it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import boto3
from moto.events.models import EventPattern
from private_s3_processor import Context, ec2_prefix_list, expand
from private_s3_processor.intrinsics import parameter_values
from private_s3_processor.rules import MAX_OVERRIDES_CHARS, TYPE_NAME

from . import states
from .emulator import CREDENTIALS, aws_env, is_emulator, moto_server
from .launches import LaunchError, LaunchFaults, camel, failures_cause, stopped_task
from .states import StatesError
from .templates import DEFAULT_ACCOUNT, has_processors, load_template, split_transforms

REGION = CREDENTIALS["AWS_REGION"]
STACK = "private-s3-local"
STARTED_BY = "private-s3-local"  # RunTask's startedBy for the tasks the session launches
TAP = "private-s3-local-tap"
EVENT_WAIT_S = 10.0


class LocalError(Exception):
    """A problem the user can fix; the message is printed as is, exit status 1."""


@dataclass
class Processor:
    """One processor as deployed in the emulator."""

    logical_id: str
    bucket: str
    rule_arn: str
    pattern: str
    target: dict[str, Any]
    cluster: str
    task_definition: str
    dead_letter_queue: str
    container: dict[str, Any]
    network: dict[str, Any]
    failure_pattern: str = ""
    delivery: str = "Direct"
    state_machine: str = ""  # its ARN in the emulator (Orchestrated)
    definition: dict[str, Any] = field(default_factory=dict)  # substitutions filled in
    retry_attempts: int = 185  # the rule target's MaximumRetryAttempts

    @cached_property
    def matcher(self) -> EventPattern:
        """The rule's pattern as stored in the emulator, parsed once."""
        return EventPattern.load(self.pattern)

    @cached_property
    def failure_matcher(self) -> EventPattern:
        return EventPattern.load(self.failure_pattern)


@dataclass
class Row:
    """What happened to one upload (or one object a worker wrote)."""

    key: str
    bucket: str
    processor: str | None = None
    exit_code: int | None = None
    outputs: list[str] = field(default_factory=list)
    status: str = "waiting for event"
    duration_s: float | None = None
    overrides: dict[str, Any] | None = None
    environment: dict[str, str] = field(default_factory=dict)
    task_arn: str = ""
    launch_attempts: int = 0
    runs: int = 0  # worker runs (a redriven upload runs again)
    outcome: str = ""  # processed | dead-lettered | lost
    redriven: bool = False  # re-submitted by someone else (redrive) and run again here

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "processor": self.processor,
            "exit_code": self.exit_code,
            "outputs": self.outputs,
            "status": self.status,
            "outcome": self.outcome,
            "launch_attempts": self.launch_attempts,
            "runs": self.runs,
            "redriven": self.redriven,
            "duration_s": self.duration_s,
        }


def clients(endpoint: str) -> dict[str, Any]:
    env = aws_env(endpoint)
    session = boto3.session.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
        region_name=REGION,
    )
    return {
        name: session.client(name, endpoint_url=endpoint)
        for name in ("s3", "sqs", "events", "cloudformation", "ecs", "ec2", "stepfunctions")
    }


@contextmanager
def emulator(endpoint_url: str | None, log: Path) -> Iterator[str]:
    """The emulator at ``endpoint_url``, or a new moto server on a free loopback port."""
    if endpoint_url:
        if not is_emulator(endpoint_url):
            raise LocalError(
                f"no moto server answers at {endpoint_url} (is it running, and is that its port?)"
            )
        yield endpoint_url
        return
    try:
        with moto_server(log) as url:
            yield url
    except RuntimeError as exc:
        raise LocalError(str(exc)) from exc


# --- the template, in the emulator ------------------------------------------------------


def expand_for_emulator(
    path: Path, given: Mapping[str, str], aws: Mapping[str, Any], note: Callable[[str], None]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Expand like the macro does in the emulator's region: the S3 prefix list comes from
    the emulator's EC2. Returns the processed template and the parameter values."""
    if not path.exists():
        raise LocalError(
            f"template {path} not found"
            + (
                " (run `make build`, or give a TEMPLATE)"
                if path == Path("build/example.yaml")
                else ""
            )
        )
    template = load_template(path)
    fragment, later = split_transforms(template)
    if later:
        raise LocalError(
            f"{path} also uses the transform(s) {', '.join(map(str, later))}, "
            "which the emulator cannot run"
        )
    if not has_processors(fragment):
        raise LocalError(f"{path} has no resource of Type: {TYPE_NAME}")
    values = parameter_values(fragment, given)
    for name, stand_in in _image_stand_ins(fragment, values).items():
        values[name] = stand_in
        note(
            f"parameter {name} (a processor's Image) has no value: the local flow runs the "
            f"project's worker, not the image; using {stand_in}"
        )
    missing = [n for n in fragment.get("Parameters", {}) if n not in values]
    if missing:
        raise LocalError(
            "parameters without a value: " + ", ".join(missing) + " (give --parameter NAME=VALUE)"
        )
    lookup = ec2_prefix_list(lambda region: aws["ec2"])
    context = Context(
        region=REGION, account_id=DEFAULT_ACCOUNT, s3_prefix_list=lookup, parameters=values
    )
    return expand(fragment, context), values


def _image_stand_ins(fragment: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, str]:
    stand_ins = {}
    for resource in (fragment.get("Resources") or {}).values():
        if not isinstance(resource, dict) or resource.get("Type") != TYPE_NAME:
            continue
        properties = resource.get("Properties")
        image = properties.get("Image") if isinstance(properties, dict) else None
        if isinstance(image, dict) and set(image) == {"Ref"} and image["Ref"] not in values:
            stand_ins[image["Ref"]] = (
                f"{DEFAULT_ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/private-s3-worker:local"
            )
    return stand_ins


def create_tap(aws: Mapping[str, Any]) -> str:
    """A rule copying every S3 event to a queue. Created before the stack's rules: moto
    evaluates rules in creation order and stops at an ECS target that raises."""
    queue = aws["sqs"].create_queue(QueueName=TAP)["QueueUrl"]
    arn = aws["sqs"].get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    aws["events"].put_rule(Name=TAP, EventPattern=json.dumps({"source": ["aws.s3"]}))
    aws["events"].put_targets(
        Rule=TAP, Targets=[{"Id": "tap", "Arn": arn["Attributes"]["QueueArn"]}]
    )
    return str(queue)


def create_stack(
    aws: Mapping[str, Any], template: dict[str, Any], values: Mapping[str, Any], stack: str
) -> dict[str, str]:
    """Create the expanded template as a stack; returns logical ID -> physical ID."""
    declared = template.get("Parameters", {})
    parameters = [
        {"ParameterKey": k, "ParameterValue": ",".join(v) if isinstance(v, list) else str(v)}
        for k, v in values.items()
        if k in declared
    ]
    cfn = aws["cloudformation"]
    cfn.create_stack(
        StackName=stack,
        TemplateBody=json.dumps(template),
        Parameters=parameters,
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    status = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    if status["StackStatus"] != "CREATE_COMPLETE":
        raise LocalError(
            f"the emulator could not create the stack: {status['StackStatus']} "
            f"{status.get('StackStatusReason', '')}"
        )
    # Paged: DescribeStackResources returns only a stack's first 100 resources.
    physical = {
        r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack)
        for r in page["StackResourceSummaries"]
        if "LogicalResourceId" in r
    }
    for logical, resource in template["Resources"].items():
        # moto's CloudFormation leaves a VPC's DNS hostnames off; the template turns them
        # on (and moto's RunTask needs them to name the task's network interface).
        if resource["Type"] == "AWS::EC2::VPC" and resource["Properties"].get("EnableDnsHostnames"):
            aws["ec2"].modify_vpc_attribute(
                VpcId=physical[logical], EnableDnsHostnames={"Value": True}
            )
    return physical


def processors_of(
    template: dict[str, Any],
    physical: Mapping[str, str],
    aws: Mapping[str, Any],
    values: Mapping[str, Any],
) -> dict[str, Processor]:
    """Each processor's deployed parts, read back from the emulator."""
    found = {}
    for logical, resource in template["Resources"].items():
        own = (resource.get("Metadata") or {}).get("PrivateS3Processor")
        if resource["Type"] != "AWS::S3::Bucket" or not own:
            continue
        name = own["Processor"]
        bucket = physical[logical]
        # Bucket notifications in the template are ignored by moto's CloudFormation.
        versioning = resource["Properties"].get("VersioningConfiguration", {})
        if versioning.get("Status") == "Enabled":
            # So is the template's versioning.
            aws["s3"].put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
            )
        aws["s3"].put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
        rule_name = _rule_name(physical[f"{name}Rule"])
        rule = aws["events"].describe_rule(Name=rule_name)
        targets = aws["events"].list_targets_by_rule(Rule=rule_name)["Targets"]
        task_definition = physical[f"{name}TaskDefinition"]
        described = aws["ecs"].describe_task_definition(taskDefinition=task_definition)
        declared = template["Resources"][f"{name}TaskDefinition"]
        container = _container(declared, described["taskDefinition"])
        registered = _complete_task_definition(
            aws, declared, described["taskDefinition"], container
        )
        written_target = template["Resources"][f"{name}Rule"]["Properties"]["Targets"][0]
        common: dict[str, Any] = {
            "logical_id": name,
            "bucket": bucket,
            "rule_arn": rule["Arn"],
            "pattern": rule["EventPattern"],
            "cluster": physical["PrivateS3Cluster"],
            "task_definition": registered,
            "dead_letter_queue": physical[f"{name}DeadLetterQueue"],
            "container": container,
            "retry_attempts": written_target["RetryPolicy"]["MaximumRetryAttempts"],
        }
        machine = template["Resources"].get(f"{name}StateMachine")
        if machine is not None:
            found[name] = Processor(
                **common,
                target=targets[0],
                network={},
                delivery="Orchestrated",
                state_machine=physical[f"{name}StateMachine"],
                definition=_definition(machine["Properties"], physical, values, registered),
            )
            continue
        network, target = _ecs_target_as_written(
            written_target, targets[0], registered, physical, values
        )
        aws["events"].put_targets(Rule=rule_name, Targets=[target])
        found[name] = Processor(
            **common,
            target=target,
            network=network,
            failure_pattern=aws["events"].describe_rule(
                Name=_rule_name(physical[f"{name}FailureRule"])
            )["EventPattern"],
        )
    return found


def _ecs_target_as_written(
    written: Mapping[str, Any],
    stored: Mapping[str, Any],
    registered: str,
    physical: Mapping[str, str],
    values: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The RunTask network configuration and the rule target, as the template wrote them.

    moto drops a rule target's NetworkConfiguration: it comes from the template, and
    the stored target is put back with it, on the completed task definition, so
    anything reading the rule's target (redrive) can use it."""
    vpc = written["EcsParameters"]["NetworkConfiguration"]["AwsVpcConfiguration"]
    subnets = _resolve(vpc["Subnets"], physical, values)
    groups = _resolve(vpc["SecurityGroups"], physical, values)
    public = vpc["AssignPublicIp"]
    network = {
        "awsvpcConfiguration": {
            "subnets": subnets,
            "securityGroups": groups,
            "assignPublicIp": public,
        }
    }
    target = dict(stored)
    target["EcsParameters"] = {
        **target["EcsParameters"],
        "TaskDefinitionArn": registered,
        "NetworkConfiguration": {
            "awsvpcConfiguration": {
                "Subnets": subnets,
                "SecurityGroups": groups,
                "AssignPublicIp": public,
            }
        },
    }
    return network, target


def _definition(
    props: Mapping[str, Any],
    physical: Mapping[str, str],
    values: Mapping[str, Any],
    registered: str,
) -> dict[str, Any]:
    """The state machine's definition with its DefinitionSubstitutions filled in.

    moto's CloudFormation reads only DefinitionString, so the definition comes from the
    template; the task definition is the revision registered from the template (see
    _complete_task_definition), of the same family."""
    pseudo = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": DEFAULT_ACCOUNT}
    text = json.dumps(props["Definition"])
    for name, value in props.get("DefinitionSubstitutions", {}).items():
        if isinstance(value, dict) and "Fn::Sub" in value:
            resolved = str(value["Fn::Sub"])
            for var, pseudo_value in pseudo.items():
                resolved = resolved.replace("${" + var + "}", pseudo_value)
        elif isinstance(value, dict) and "Fn::Join" in value:
            separator, items = value["Fn::Join"]
            parts = _resolve(items, physical, values)
            resolved = parts if isinstance(parts, str) else separator.join(map(str, parts))
        else:
            resolved = str(_resolve(value, physical, values))
        if name == "TaskDefinition":
            resolved = registered
        text = text.replace("${" + name + "}", json.dumps(resolved)[1:-1])
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _complete_task_definition(
    aws: Mapping[str, Any],
    declared: dict[str, Any],
    stored: dict[str, Any],
    container: dict[str, Any],
) -> str:
    """A revision of the stack's task definition family as the template wrote it.

    moto's CloudFormation drops the task definition's cpu, memory and network mode, and
    its RunTask needs a container-level memory that Fargate does not: the same family is
    registered again from the template, with the container's memory equal to the task's.
    """
    props = declared["Properties"]
    written = props["ContainerDefinitions"][0]
    definition: dict[str, Any] = {
        "name": "worker",
        "image": str(
            stored.get("containerDefinitions", [{}])[0].get("image", written.get("Image"))
        ),
        "essential": True,
        "memory": int(props["Memory"]),
        "environment": [{"name": k, "value": v} for k, v in container["environment"].items()],
    }
    if container.get("entryPoint"):
        definition["entryPoint"] = container["entryPoint"]
    if container.get("command"):
        definition["command"] = container["command"]
    answer = aws["ecs"].register_task_definition(
        family=stored["family"],
        networkMode=props["NetworkMode"],
        requiresCompatibilities=props["RequiresCompatibilities"],
        cpu=props["Cpu"],
        memory=props["Memory"],
        containerDefinitions=[definition],
    )
    return str(answer["taskDefinition"]["taskDefinitionArn"])


def _resolve(value: Any, physical: Mapping[str, str], values: Mapping[str, Any]) -> Any:
    """Ref and GetAtt (of a security group's ID) as CloudFormation resolved them."""
    if isinstance(value, list):
        flat: list[Any] = []
        for item in value:
            resolved = _resolve(item, physical, values)
            flat += resolved if isinstance(resolved, list) else [resolved]
        return flat
    if isinstance(value, dict) and "Ref" in value:
        name = value["Ref"]
        return physical.get(name, values.get(name))
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return physical[value["Fn::GetAtt"][0]]
    return value


def _rule_name(physical_id: str) -> str:
    return physical_id.rsplit("/", 1)[-1] if physical_id.startswith("arn:") else physical_id


def _container(declared: dict[str, Any], described: dict[str, Any]) -> dict[str, Any]:
    """The ``worker`` container: as the emulator stored it, completed from the template
    where moto drops fields (its task definitions from a stack lose some)."""
    stored: dict[str, Any] = next(
        (c for c in described.get("containerDefinitions", []) if c.get("name") == "worker"), {}
    )
    written = declared["Properties"]["ContainerDefinitions"][0]
    environment = stored.get("environment") or [
        {"name": e["Name"], "value": e["Value"]} for e in written.get("Environment", [])
    ]
    return {
        "environment": {e["name"]: str(e["value"]) for e in environment},
        "entryPoint": stored.get("entryPoint") or written.get("EntryPoint"),
        "command": stored.get("command") or written.get("Command"),
    }


# --- EventBridge -> ECS, played the way AWS documents it -------------------------------


def documented_shape(event: dict[str, Any]) -> dict[str, Any]:
    """moto writes ``detail.object.eTag``; AWS's S3 events carry ``etag``."""
    obj = event.get("detail", {}).get("object", {})
    if "eTag" in obj and "etag" not in obj:
        obj["etag"] = obj.pop("eTag")
    return event


_MISSING = object()


def json_path(event: Any, path: str) -> Any:
    """The value at a simple JSONPath (``$.detail.object.key``), or _MISSING."""
    node = event
    for part in path.removeprefix("$.").split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def apply_input_transformer(transformer: Mapping[str, Any], event: dict[str, Any]) -> str:
    """The target input EventBridge builds: each ``<var>`` replaced by the raw value at its
    path. Strings are not JSON-escaped (the documented behaviour that makes a key with
    ``"`` or ``\\`` invalid input); a path missing from the event leaves ``<var>``."""
    text = str(transformer["InputTemplate"])
    for var, path in (transformer.get("InputPathsMap") or {}).items():
        value = json_path(event, str(path))
        if value is _MISSING:
            continue
        raw = value if isinstance(value, str) else json.dumps(value)
        text = text.replace(f"<{var}>", raw)
    return text


def overrides_problem(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """The parsed overrides, or why ECS/EventBridge would refuse them."""
    if len(text) > MAX_OVERRIDES_CHARS:
        return None, f"overrides are {len(text)} characters; ECS allows {MAX_OVERRIDES_CHARS}"
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"the InputTransformer produced invalid JSON ({exc})"
    if not isinstance(parsed, dict):
        return None, "the InputTransformer did not produce an object"
    return parsed, None


def dead_letter(
    aws: Mapping[str, Any],
    p: Processor,
    event: dict[str, Any],
    error: str,
    code: str = "InvalidInput",
) -> None:
    """What EventBridge does with a target it cannot invoke: the event, with the error in
    message attributes, to the target's dead-letter queue."""
    attributes = {
        "ERROR_CODE": code,
        "ERROR_MESSAGE": error[:1000],
        "RULE_ARN": p.rule_arn,
        "TARGET_ARN": p.target["Arn"],
    }
    aws["sqs"].send_message(
        QueueUrl=p.dead_letter_queue,
        MessageBody=json.dumps(event),
        MessageAttributes={
            k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()
        },
    )


def worker_command(p: Processor) -> list[str]:
    """What the container runs, locally: the test block as written, or the worker."""
    entry = p.container.get("entryPoint") or []
    if entry[:2] == ["sh", "-c"]:
        return ["sh", "-c", *(p.container.get("command") or [])]
    # The image's entrypoint is the project's worker; locally it runs from this checkout.
    return [sys.executable, "-m", "private_s3_worker"]


def run_worker(endpoint: str, p: Processor, row: Row, cwd: Path) -> None:
    """One task: the container's environment, then the overrides, then the emulator."""
    env = {**aws_env(endpoint), **p.container["environment"]}
    env.setdefault("TEST_SLEEP_SECONDS", "0")  # the test block sleeps 60 s by default
    assert row.overrides is not None
    for override in row.overrides.get("containerOverrides", []):
        if override.get("name") == "worker":
            env.update({e["name"]: str(e["value"]) for e in override.get("environment", [])})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(cwd), env.get("PYTHONPATH", "")]))
    row.environment = {k: v for k, v in env.items() if k.startswith("S3_")}
    start = time.monotonic()
    with _LAUNCHING:
        if _STOPPING:
            raise SystemExit(1)  # this pool thread ends; the process is exiting anyway
        proc = subprocess.Popen(
            worker_command(p),
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # Like a Fargate task, the worker does not receive the Ctrl-C typed at `local`
            # (which then lets the running tasks finish before it prints the table).
            start_new_session=True,
        )
        _WORKERS.add(proc)
    with proc:
        try:
            stdout, stderr = proc.communicate(timeout=3600)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        finally:
            _WORKERS.discard(proc)
    run = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    row.duration_s = round(time.monotonic() - start, 3)
    row.exit_code = run.returncode
    last = _last_json(run.stdout)
    row.outputs = list(last.get("outputs", [])) if last else []
    row.status = str(last.get("outcome", "exited")) if last else "exited"
    if run.returncode != 0 and not last:
        row.status = f"exited {run.returncode}: {run.stderr.strip()[-200:]}"


_WORKERS: set[subprocess.Popen[str]] = set()  # the workers running now
_LAUNCHING = threading.Lock()  # held while a worker is started and registered
_STOPPING = False  # set by stop_workers(): no worker starts after it


def stop_workers() -> None:
    """Terminate the running workers and what they started (each leads a process group
    of its own); for an immediate stop, from a signal handler. Holding the launch lock
    (never released: the process exits next), so a worker being started right now is
    either in the set or never started, never orphaned. The main thread, where signal
    handlers run, never holds that lock; the timeout only bounds the unforeseen."""
    global _STOPPING
    _LAUNCHING.acquire(timeout=5)
    _STOPPING = True
    for proc in list(_WORKERS):
        with suppress(ProcessLookupError, PermissionError):  # it has just ended
            os.killpg(proc.pid, signal.SIGTERM)


def _adopted_detail(event: Any, execution: str) -> dict[str, Any]:
    """The bucket, key and ETag an adopted execution's input names, for its row. A
    hand-made ``StartExecution`` may carry any JSON (none at all is ``{}``): the state
    machine dead-letters what is not an S3 event, and its row is named after the
    execution."""
    detail = event.get("detail") if isinstance(event, dict) else None
    bucket = detail.get("bucket") if isinstance(detail, dict) else None
    obj = detail.get("object") if isinstance(detail, dict) else None
    name = bucket.get("name") if isinstance(bucket, dict) else None
    key = obj.get("key") if isinstance(obj, dict) else None
    if isinstance(name, str) and isinstance(key, str) and isinstance(obj, dict):
        return {"bucket": {"name": name}, "object": {"key": key, "etag": obj.get("etag", "")}}
    named = f"(execution {execution.rsplit(':', 1)[-1]})"
    return {"bucket": {"name": ""}, "object": {"key": named, "etag": ""}}


def single_elements_unwrapped(node: Any) -> Any:
    """``[{...}]`` -> ``{...}`` throughout, for moto's matcher.

    EventBridge matches a pattern field inside an array of objects when any element
    matches (``"containers": {"exitCode": [...]}`` on ECS events); moto's matcher does
    not descend into arrays. For a one-element array the two agree exactly, and a
    task here has one container."""
    if isinstance(node, dict):
        return {k: single_elements_unwrapped(v) for k, v in node.items()}
    if isinstance(node, list) and len(node) == 1 and isinstance(node[0], dict):
        return single_elements_unwrapped(node[0])
    return node


def task_stopped_event(p: Processor, row: Row) -> dict[str, Any]:
    """The "ECS Task State Change" event ECS emits when the task stops (its documented
    shape, the fields the failure rule reads)."""
    cluster_arn = (
        p.cluster
        if p.cluster.startswith("arn:")
        else f"arn:aws:ecs:{REGION}:{DEFAULT_ACCOUNT}:cluster/{p.cluster}"
    )
    container: dict[str, Any] = {"name": "worker", "lastStatus": "STOPPED", "taskArn": row.task_arn}
    if row.exit_code is not None:
        container["exitCode"] = row.exit_code
    return {
        "version": "0",
        "id": row.task_arn.rsplit("/", 1)[-1],
        "detail-type": "ECS Task State Change",
        "source": "aws.ecs",
        "account": DEFAULT_ACCOUNT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": REGION,
        "resources": [row.task_arn],
        "detail": {
            "clusterArn": cluster_arn,
            "taskArn": row.task_arn,
            "taskDefinitionArn": p.task_definition,
            "lastStatus": "STOPPED",
            "desiredStatus": "STOPPED",
            "launchType": "FARGATE",
            "stopCode": "EssentialContainerExited",
            "stoppedReason": "Essential container in task exited",
            "containers": [container],
            "overrides": row.overrides or {},
        },
    }


def _last_json(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


# --- the session -------------------------------------------------------------------------


@dataclass
class Session:
    """The stack in the emulator, the tap, and the rows of what happened."""

    endpoint: str
    aws: dict[str, Any]
    processors: dict[str, Processor]
    tap: str
    cwd: Path
    progress: Callable[[str], None]
    concurrency: int = 2
    stack: str = ""
    faults: LaunchFaults = field(default_factory=LaunchFaults)
    time_scale: float = 1.0  # retry waits are multiplied by this (load tests shorten them)
    rows: dict[tuple[str, str, str], Row] = field(default_factory=dict)
    order: list[tuple[str, str, str]] = field(default_factory=list)
    retriggered: list[Row] = field(default_factory=list)
    pending: list[Future[None]] = field(default_factory=list)
    # Executions this session started or adopted, and tasks it adopted: run once each.
    started: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency)
        self._rng = random.Random(self.faults.seed)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def upload(self, path: Path, key: str, processor: Processor) -> None:
        with path.open("rb") as body:  # streamed, not read into memory
            answer = self.aws["s3"].put_object(Bucket=processor.bucket, Key=key, Body=body)
        ident = (processor.bucket, key, answer["ETag"].strip('"'))
        self.rows[ident] = Row(key=key, bucket=processor.bucket)
        self.order.append(ident)
        self.progress(f"uploaded {key}")

    def dispatch(self, wait_s: float = 0.0) -> int:
        """Take the S3 events waiting on the tap and play them; returns how many."""
        handled = 0
        deadline = time.monotonic() + wait_s
        while True:
            answer = self.aws["sqs"].receive_message(
                QueueUrl=self.tap, MaxNumberOfMessages=10, WaitTimeSeconds=0
            )
            messages = answer.get("Messages", [])
            for message in messages:
                self._play(documented_shape(json.loads(message["Body"])))
                self.aws["sqs"].delete_message(
                    QueueUrl=self.tap, ReceiptHandle=message["ReceiptHandle"]
                )
                handled += 1
            if not messages:
                if time.monotonic() >= deadline:
                    return handled
                time.sleep(0.05)

    def _play(self, event: dict[str, Any]) -> None:
        if event.get("detail-type") != "Object Created":
            return  # e.g. moto's "Object Tags Added" after every put: no rule matches it
        obj = event["detail"]["object"]
        bucket = event["detail"]["bucket"]["name"]
        ident = (bucket, obj["key"], str(obj.get("etag", "")))
        row = self.rows.get(ident)
        if row is None:  # an object a worker wrote
            row = Row(key=obj["key"], bucket=bucket, status="output")
        row.status = "no match"
        for p in self.processors.values():
            if not p.matcher.matches_event(event):  # type: ignore[arg-type]
                continue
            row.processor = p.logical_id
            if ident not in self.rows:
                self.retriggered.append(row)
            if p.delivery == "Orchestrated":
                # The rule's target: StartExecution with the whole event as input.
                execution = self.aws["stepfunctions"].start_execution(
                    stateMachineArn=p.state_machine, input=json.dumps(event)
                )["executionArn"]
                self.started.add(execution)
                row.status = "running"
                self.pending.append(self._pool.submit(self._orchestrate, p, row, event, execution))
                continue
            text = apply_input_transformer(p.target["InputTransformer"], event)
            overrides, problem = overrides_problem(text)
            if problem is not None:
                dead_letter(self.aws, p, event, problem)
                row.status, row.outcome = "dead-lettered", "dead-lettered"
                self.progress(f"{row.key}: {problem}; event sent to {p.logical_id}'s DLQ")
                continue
            row.overrides = overrides
            row.status = "launching"
            self.pending.append(self._pool.submit(self._direct, p, row, event))

    def _sleep(self, seconds: float) -> None:
        time.sleep(seconds * self.time_scale)

    def _run_task(self, p: Processor, row: Row, network: Mapping[str, Any]) -> str:
        """RunTask in the emulator, after the simulated faults (LaunchError)."""
        row.launch_attempts += 1
        self.faults.check(p.task_definition)
        launched = self.aws["ecs"].run_task(
            cluster=p.cluster,
            taskDefinition=p.task_definition,
            launchType="FARGATE",
            overrides=row.overrides,
            count=1,
            startedBy=STARTED_BY,
            networkConfiguration=network,
        )
        task_arn = str(launched["tasks"][0]["taskArn"])
        row.task_arn = task_arn
        return task_arn

    def _direct(self, p: Processor, row: Row, event: dict[str, Any]) -> None:
        """EventBridge's ECS target: throttling is retried (backoff with jitter, up to the
        target's MaximumRetryAttempts) and then dead-lettered; a 200 with failures[]
        counts as delivered, so that upload is lost (README, "Delivery modes")."""
        retries = 0
        while True:
            try:
                self._run_task(p, row, p.network)
                break
            except LaunchError as exc:
                if exc.kind == "failures":
                    row.status = (
                        f"lost: RunTask answered failures[] ({exc}); "
                        "EventBridge counted it delivered"
                    )
                    row.outcome = "lost"
                    self.progress(f"{row.key}: {row.status}")
                    return
                if retries >= p.retry_attempts:
                    dead_letter(self.aws, p, event, f"ThrottlingException: {exc}", "Throttling")
                    row.status, row.outcome = "dead-lettered (throttled)", "dead-lettered"
                    return
                self._sleep(self._rng.uniform(0, min(60.0, 2.0**retries)))
                retries += 1
        self.progress(f"{row.key}: rule {p.logical_id} matched, task started")
        self._task(p, row)

    def _task(self, p: Processor, row: Row) -> None:
        run_worker(self.endpoint, p, row, self.cwd)
        self._stopped(p, row)
        self.progress(f"{row.key}: worker exited {row.exit_code} ({row.status})")
        stopped = task_stopped_event(p, row)
        if p.failure_matcher.matches_event(single_elements_unwrapped(stopped)):
            # What the processor's failure rule does on AWS with ECS's event.
            self.aws["sqs"].send_message(
                QueueUrl=p.dead_letter_queue, MessageBody=json.dumps(stopped)
            )
            row.status += ", dead-lettered"
            row.outcome = "dead-lettered"
        else:
            row.outcome = "processed"

    def _stopped(self, p: Processor, row: Row) -> None:
        row.runs += 1
        self.aws["ecs"].stop_task(
            cluster=p.cluster, task=row.task_arn, reason="Essential container in task exited"
        )

    def _orchestrate(self, p: Processor, row: Row, event: dict[str, Any], execution: str) -> None:
        outcome = states.run(
            p.definition,
            event,
            _StepFunctionsServices(self, p, row),
            execution_id=execution,
            sleep=self._sleep,
            rng=self._rng,
        )
        if outcome.status == "SUCCEEDED":
            row.outcome = "processed"
        elif row.outcome != "dead-lettered":
            row.outcome = "lost"
            row.status = f"execution failed without dead-lettering: {outcome.error} {outcome.cause}"
        self.progress(f"{row.key}: execution {outcome.status.lower()} ({row.status})")

    def adopt(self) -> int:
        """Run what someone else started in the emulator (``redrive``): executions of the
        processors' state machines and tasks in the cluster that this session did not
        start. The emulator records them but runs nothing; here they run as the rest do."""
        adopted = 0
        for p in self.processors.values():
            if p.delivery == "Orchestrated":
                # ListExecutions answers pages of 100 by default, 1000 at most (Step
                # Functions API Reference, ListExecutions): read them all.
                pages = (
                    self.aws["stepfunctions"]
                    .get_paginator("list_executions")
                    .paginate(stateMachineArn=p.state_machine, PaginationConfig={"PageSize": 1000})
                )
                for execution in (e for page in pages for e in page["executions"]):
                    arn = execution["executionArn"]
                    if arn in self.started:
                        continue
                    self.started.add(arn)
                    described = self.aws["stepfunctions"].describe_execution(executionArn=arn)
                    event = json.loads(described["input"])
                    row = self._row_of(_adopted_detail(event, arn), p)
                    self.progress(f"{row.key}: redriven, execution started in {p.logical_id}")
                    self.pending.append(self._pool.submit(self._orchestrate, p, row, event, arn))
                    adopted += 1
                continue
            pages = (
                self.aws["ecs"]
                .get_paginator("list_tasks")
                .paginate(cluster=p.cluster, desiredStatus="RUNNING")
            )
            fresh = [a for page in pages for a in page["taskArns"] if a not in self.started]
            # DescribeTasks takes up to 100 tasks a call (ECS API Reference, DescribeTasks).
            tasks = [
                task
                for i in range(0, len(fresh), 100)
                for task in self.aws["ecs"].describe_tasks(
                    cluster=p.cluster, tasks=fresh[i : i + 100]
                )["tasks"]
            ]
            for task in tasks:
                env = {
                    e["name"]: e["value"]
                    for o in task.get("overrides", {}).get("containerOverrides", [])
                    for e in o.get("environment", [])
                }
                if task.get("startedBy") == STARTED_BY or env.get("S3_BUCKET") != p.bucket:
                    # This session's own (even one whose worker is just starting), or
                    # another processor's task in the shared cluster.
                    continue
                self.started.add(task["taskArn"])
                detail = {
                    "bucket": {"name": env["S3_BUCKET"]},
                    "object": {"key": env.get("S3_KEY", ""), "etag": env.get("S3_ETAG", "")},
                }
                row = self._row_of(detail, p)
                row.overrides = task.get("overrides", {})
                row.task_arn = task["taskArn"]
                row.launch_attempts += 1
                self.progress(f"{row.key}: redriven, task started in {p.logical_id}")
                self.pending.append(self._pool.submit(self._task, p, row))
                adopted += 1
        return adopted

    def _row_of(self, detail: Mapping[str, Any], p: Processor) -> Row:
        ident = (
            detail["bucket"]["name"],
            detail["object"]["key"],
            str(detail["object"].get("etag", "")),
        )
        row = self.rows.get(ident)
        if row is None:
            row = Row(key=ident[1], bucket=ident[0])
            self.rows[ident] = row
            self.order.append(ident)
        row.processor = p.logical_id
        row.status = "redriven"
        row.redriven = True
        return row

    def settle(self) -> None:
        """Wait for the running tasks and the events their outputs cause, until quiet."""
        while True:
            self.dispatch(wait_s=0.2)
            running = [f for f in self.pending if not f.done()]
            if not running:
                if not self.dispatch(wait_s=0.3):
                    break
                continue
            running[0].result()
        for future in self.pending:
            future.result()  # re-raise anything that went wrong in a task thread
        for row in self.rows.values():
            if row.status == "waiting for event":
                row.status = "no event (the emulator did not emit one)"

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def results(self) -> list[Row]:
        return [self.rows[i] for i in self.order]


class _StepFunctionsServices:
    """The integrations the state machine calls, as Step Functions documents them, on the
    emulator: ``ecs:runTask.sync`` runs the worker and waits; ``sqs:sendMessage``."""

    def __init__(self, session: Session, p: Processor, row: Row) -> None:
        self.session, self.p, self.row = session, p, row

    def call(self, resource: str, parameters: dict[str, Any]) -> Any:
        session, p, row = self.session, self.p, self.row
        if resource.endswith(":states:::ecs:runTask.sync"):
            row.overrides = camel(parameters["Overrides"])
            try:
                task_arn = session._run_task(p, row, camel(parameters["NetworkConfiguration"]))
            except LaunchError as exc:
                if exc.kind == "throttling":
                    raise StatesError(
                        "ECS.AmazonECSException", f"{exc} (Error Code: ThrottlingException)"
                    ) from None
                raise StatesError("AmazonECS.Unknown", failures_cause(exc)) from None
            run_worker(session.endpoint, p, row, session.cwd)
            session._stopped(p, row)
            described = stopped_task(task_arn, p.cluster, p.task_definition, row.exit_code)
            if row.exit_code != 0:
                raise StatesError("States.TaskFailed", json.dumps(described))
            return described
        if resource.endswith(":states:::sqs:sendMessage"):
            body = parameters["MessageBody"]
            session.aws["sqs"].send_message(
                QueueUrl=parameters["QueueUrl"],
                MessageBody=body if isinstance(body, str) else json.dumps(body),
            )
            row.outcome = "dead-lettered"
            row.status += f", dead-lettered ({body.get('error') if isinstance(body, dict) else ''})"
            return {}
        raise states.Unsupported(f"the local flow has no integration {resource}")


def deploy(
    endpoint: str,
    template: Path,
    given: Mapping[str, str],
    progress: Callable[[str], None],
    concurrency: int = 2,
    faults: LaunchFaults | None = None,
    time_scale: float = 1.0,
) -> Session:
    """Expand ``template``, create it as a new stack in the emulator, and return the
    session that uploads to it and plays its events."""
    aws = clients(endpoint)
    expanded, values = expand_for_emulator(template, given, aws, progress)
    tap = tap_queue(aws)
    stack = f"{STACK}-{time.time_ns() // 1_000_000}"
    physical = create_stack(aws, expanded, values, stack)
    processors = processors_of(expanded, physical, aws, values)
    progress(
        f"stack {stack}: {len(physical)} resources; processors "
        + ", ".join(f"{p.logical_id} (bucket {p.bucket})" for p in processors.values())
    )
    return Session(
        endpoint,
        aws,
        processors,
        tap,
        Path.cwd(),
        progress,
        concurrency,
        stack=stack,
        faults=faults or LaunchFaults(),
        time_scale=time_scale,
    )


def tap_queue(aws: Mapping[str, Any]) -> str:
    """The tap of an emulator, created on first use (before any stack's rules)."""
    rules = aws["events"].list_rules(NamePrefix=TAP)["Rules"]
    if any(r["Name"] == TAP for r in rules):
        return str(aws["sqs"].get_queue_url(QueueName=TAP)["QueueUrl"])
    return create_tap(aws)


def table(rows: list[Row]) -> str:
    headers = ("key", "processor", "exit", "outputs", "duration", "status")
    lines = [
        [
            r.key,
            r.processor or "no match",
            "" if r.exit_code is None else str(r.exit_code),
            str(len(r.outputs)),
            "" if r.duration_s is None else f"{r.duration_s:.2f}s",
            f"{r.status} (redriven)" if r.redriven else r.status,
        ]
        for r in rows
    ]
    widths = [
        max(len(h), *(len(line[i]) for line in lines)) if lines else len(h)
        for i, h in enumerate(headers)
    ]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(out) + "\n"


def uploads(specs: list[str]) -> list[tuple[Path, str]]:
    """``PATH[=KEY]`` -> (file, key); a folder gives its files, keyed by relative path."""
    found: list[tuple[Path, str]] = []
    for spec in specs:
        path_text, sep, key = spec.partition("=")
        path = Path(path_text)
        if not path.exists():
            raise LocalError(f"--upload {spec}: {path} does not exist")
        if path.is_dir():
            prefix = key.rstrip("/") + "/" if sep and key else ""
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                found.append((file, prefix + file.relative_to(path).as_posix()))
        else:
            found.append((path, key if sep and key else path.name))
    return found
