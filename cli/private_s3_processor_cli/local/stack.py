"""CloudFormation in the emulator: the template expanded by the macro's own code, created
as a stack, and each processor's parts read back.

Where moto 5.2 falls short of AWS (SPEC §5) the work-around is here, one function each,
with ordinary AWS API calls and the template's own values (DESIGN.md, "The local flow
on moto"); it never invents a result:

- a bucket's notification and versioning settings from CloudFormation are ignored:
  both are set with the S3 API, as the template says (``_bucket_as_written``);
- a VPC's DNS hostnames are left off, and RunTask needs them (``create_stack``);
- task definitions lose cpu, memory and network mode, and RunTask wants a
  container-level memory: the family is registered again from the template
  (``_complete_task_definition``, ``_container``);
- rule targets lose their network configuration: it comes from the template and the
  target is put back with it (``restore_ecs_target``);
- state machines get the ``DefinitionString`` as written, ``DefinitionSubstitutions``
  not applied: the definition comes from the template, substitutions resolved
  (``state_machine_definition``);
- scalable targets, scaling policies and alarms are skipped: a Queued processor's are
  created with their APIs, as the template writes them (``autoscaling.py``,
  ``scaling_as_written``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from private_s3_processor import Context, ec2_prefix_list, expand
from private_s3_processor.intrinsics import parameter_values
from private_s3_processor.rules import TYPE_NAME

from ..definitions import DefinitionError, definition_of
from ..templates import DEFAULT_ACCOUNT, has_processors, load_template, split_transforms
from .emulator import REGION
from .model import LocalError


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


@dataclass
class Deployed:
    """One processor's parts in the stack that every delivery mode has; its mode reads
    the rest (``delivery/``)."""

    name: str
    fields: dict[str, Any]  # the Processor fields common to every mode
    rule_name: str
    written_target: dict[str, Any]  # the rule's target as the template writes it
    stored_target: dict[str, Any]  # as the emulator stored it
    registered: str  # the task definition, registered again from the template


def deployed(
    template: dict[str, Any], physical: Mapping[str, str], aws: Mapping[str, Any]
) -> list[Deployed]:
    """Each processor's common parts, read back from the emulator."""
    found = []
    for logical, resource in template["Resources"].items():
        own = (resource.get("Metadata") or {}).get("PrivateS3Processor")
        if resource["Type"] != "AWS::S3::Bucket" or not own:
            continue
        name = own["Processor"]
        bucket = physical[logical]
        _bucket_as_written(aws, bucket, resource)
        named = rule_name(physical[f"{name}Rule"])
        rule = aws["events"].describe_rule(Name=named)
        targets = aws["events"].list_targets_by_rule(Rule=named)["Targets"]
        task_definition = physical[f"{name}TaskDefinition"]
        described = aws["ecs"].describe_task_definition(taskDefinition=task_definition)
        declared = template["Resources"][f"{name}TaskDefinition"]
        container = _container(declared, described["taskDefinition"])
        registered = _complete_task_definition(
            aws, declared, described["taskDefinition"], container
        )
        written_target = template["Resources"][f"{name}Rule"]["Properties"]["Targets"][0]
        fields: dict[str, Any] = {
            "logical_id": name,
            "bucket": bucket,
            "rule_arn": rule["Arn"],
            "pattern": rule["EventPattern"],
            "cluster": physical["PrivateS3Cluster"],
            "task_definition": registered,
            "dead_letter_queue": physical[f"{name}DeadLetterQueue"],
            "container": container,
            "retry_attempts": written_target["RetryPolicy"]["MaximumRetryAttempts"],
            # Fargate counts a task's vCPUs from its Cpu units (1,024 to the vCPU).
            "vcpus": int(declared["Properties"]["Cpu"]) / 1024,
        }
        found.append(Deployed(name, fields, named, written_target, targets[0], registered))
    return found


def _bucket_as_written(aws: Mapping[str, Any], bucket: str, resource: Mapping[str, Any]) -> None:
    """moto's CloudFormation ignores a bucket's notification and versioning settings:
    both are set with the S3 API, as the template says."""
    versioning = resource["Properties"].get("VersioningConfiguration", {})
    if versioning.get("Status") == "Enabled":
        aws["s3"].put_bucket_versioning(
            Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
        )
    aws["s3"].put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )


def restore_ecs_target(
    aws: Mapping[str, Any],
    part: Deployed,
    physical: Mapping[str, str],
    values: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The RunTask network configuration and the rule target, as the template wrote them.

    moto drops a rule target's NetworkConfiguration: it comes from the template, and
    the stored target is put back with it, on the completed task definition, so
    anything reading the rule's target (redrive) can use it."""
    vpc = part.written_target["EcsParameters"]["NetworkConfiguration"]["AwsVpcConfiguration"]
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
    target = dict(part.stored_target)
    target["EcsParameters"] = {
        **target["EcsParameters"],
        "TaskDefinitionArn": part.registered,
        "NetworkConfiguration": {
            "awsvpcConfiguration": {
                "Subnets": subnets,
                "SecurityGroups": groups,
                "AssignPublicIp": public,
            }
        },
    }
    aws["events"].put_targets(Rule=part.rule_name, Targets=[target])
    return network, target


def state_machine_definition(
    props: Mapping[str, Any],
    physical: Mapping[str, str],
    values: Mapping[str, Any],
    registered: str,
) -> dict[str, Any]:
    """The state machine's definition with its DefinitionSubstitutions filled in.

    moto's CloudFormation stores the DefinitionString without applying the
    DefinitionSubstitutions, so the definition comes from the template
    (``definition_of``: the macro writes DefinitionString) and they are filled in here;
    the task definition is the revision registered from the template (see
    _complete_task_definition), of the same family."""
    pseudo = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": DEFAULT_ACCOUNT}
    try:
        text = json.dumps(definition_of(props))
    except DefinitionError as exc:
        raise LocalError(str(exc)) from None
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


def rule_name(physical_id: str) -> str:
    """A rule's name from its physical ID (moto gives the ARN)."""
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
