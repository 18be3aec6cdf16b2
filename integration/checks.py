"""Every deployed resource against the processed template, through the engine's own APIs.

Each resource type is one of three kinds, and a type in none of them fails the run:
- CHECKED: the engine has a provider; the resource's properties, intrinsics resolved
  against the stack, must be what the API reports (``resolve.subset_problems``);
- STAND_INS: ECS, which the community engine lacks (engine_plugins/ecs_stand_ins.py):
  nothing exists to ask, so what refers to them is checked instead (rule targets);
- PLACEHOLDERS: no provider at all; the engine must say so in the resource's event.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from integration import fetch, stacks
from integration.engine import Engine
from integration.resolve import Resolver, Unresolved, subset_problems

Fetch = Callable[[Engine, str], dict[str, Any]]
PLACEHOLDERS = {
    "AWS::EC2::SecurityGroupIngress",
    "AWS::ApplicationAutoScaling::ScalableTarget",
    "AWS::ApplicationAutoScaling::ScalingPolicy",
}
STAND_INS = {"AWS::ECS::Cluster", "AWS::ECS::TaskDefinition", "AWS::ECS::Service"}
PLACEHOLDER_SAYS = "is not supported but was deployed as a fallback"


# Which template properties each check compares: those an API reports back. Properties
# an API cannot show (a queue policy's ID, tags CloudFormation adds) are not listed.
CHECKED: dict[str, tuple[Fetch, tuple[str, ...]]] = {
    "AWS::S3::Bucket": (
        fetch.bucket,
        (
            "NotificationConfiguration",
            "BucketEncryption",
            "PublicAccessBlockConfiguration",
            "VersioningConfiguration",
            "OwnershipControls",
            "Tags",
        ),
    ),
    "AWS::S3::BucketPolicy": (fetch.bucket_policy, ("PolicyDocument",)),
    "AWS::SQS::Queue": (
        fetch.queue,
        (
            "MessageRetentionPeriod",
            "VisibilityTimeout",
            "SqsManagedSseEnabled",
            "KmsMasterKeyId",
            "RedrivePolicy",
            "QueueName",
            "DelaySeconds",
            "ReceiveMessageWaitTimeSeconds",
        ),
    ),
    "AWS::Events::Rule": (fetch.rule, ("EventPattern", "State", "Description", "Targets")),
    "AWS::IAM::Role": (
        fetch.role,
        (
            "AssumeRolePolicyDocument",
            "Policies",
            "ManagedPolicyArns",
            "PermissionsBoundary",
            "Path",
            "MaxSessionDuration",
            "Tags",
        ),
    ),
    "AWS::IAM::ManagedPolicy": (fetch.managed_policy, ("PolicyDocument",)),
    "AWS::Logs::LogGroup": (fetch.log_group, ("RetentionInDays", "KmsKeyId", "LogGroupName")),
    "AWS::StepFunctions::StateMachine": (
        fetch.state_machine,
        ("RoleArn", "StateMachineType", "TracingConfiguration"),
    ),
    "AWS::CloudWatch::Alarm": (
        fetch.alarm,
        (
            "Namespace",
            "MetricName",
            "Threshold",
            "ComparisonOperator",
            "EvaluationPeriods",
            "Period",
            "Statistic",
            "Dimensions",
            "AlarmActions",
            "TreatMissingData",
            "OKActions",
            "DatapointsToAlarm",
        ),
    ),
    "AWS::SNS::Topic": (fetch.topic, ("KmsMasterKeyId",)),
    "AWS::KMS::Key": (fetch.key, ("KeyPolicy", "EnableKeyRotation", "Description")),
    "AWS::EC2::VPC": (fetch.vpc, ("CidrBlock",)),
    "AWS::EC2::Subnet": (
        fetch.subnet,
        ("CidrBlock", "VpcId", "AvailabilityZone", "MapPublicIpOnLaunch"),
    ),
    "AWS::EC2::RouteTable": (fetch.route_table, ("VpcId",)),
    "AWS::EC2::SubnetRouteTableAssociation": (fetch.association, ("SubnetId", "RouteTableId")),
    "AWS::EC2::SecurityGroup": (
        fetch.security_group,
        ("GroupDescription", "VpcId", "SecurityGroupEgress"),
    ),
    "AWS::EC2::VPCEndpoint": (
        fetch.endpoint,
        (
            "ServiceName",
            "VpcEndpointType",
            "VpcId",
            "SubnetIds",
            "RouteTableIds",
            "SecurityGroupIds",
            "PrivateDnsEnabled",
            "PolicyDocument",
        ),
    ),
    "AWS::Lambda::Function": (
        fetch.function,
        ("Runtime", "Handler", "MemorySize", "Timeout", "Architectures"),
    ),
    "AWS::CloudFormation::Macro": (fetch.macro, ("Name",)),
}
# What the engine's own providers do not apply, so there is nothing to compare: the
# engine must show exactly its own default instead (so an engine that starts applying the
# property fails the run, and the row goes), and the property is reported as uncompared
# with its cause (DESIGN.md, "The second engine").
ALLOW_ALL = [{"IpProtocol": "-1", "CidrIp": "0.0.0.0/0"}]
ENGINE_IGNORES: dict[tuple[str, str], tuple[str, Any]] = {
    ("AWS::EC2::SecurityGroup", "SecurityGroupEgress"): (
        "the engine keeps the default allow-all egress rule",
        ALLOW_ALL,
    ),
    ("AWS::Logs::LogGroup", "RetentionInDays"): (
        "the engine's log group provider does not set a retention",
        None,
    ),
    ("AWS::Logs::LogGroup", "KmsKeyId"): (
        "the engine's log group provider does not set a key",
        None,
    ),
    ("AWS::StepFunctions::StateMachine", "TracingConfiguration"): (
        "the engine's state machine provider does not set tracing",
        None,
    ),
}
# Parts the engine stores without: removed from the expected value before comparing.
ENGINE_DROPS = {
    ("AWS::EC2::VPCEndpoint", "PolicyDocument"): (
        "Version",
        "the engine stores an endpoint policy without its Version",
    ),
}
# Queue policies are checked on the queues they name (SQS keeps one Policy attribute).
CHECKED_ON_OTHERS = {"AWS::SQS::QueuePolicy"}


@dataclass
class Report:
    checked: dict[str, int] = field(default_factory=dict)
    stand_ins: dict[str, int] = field(default_factory=dict)
    placeholders: dict[str, int] = field(default_factory=dict)
    uncompared: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def check(
    engine: Engine, stack: str, template: dict[str, Any], parameters: dict[str, Any]
) -> Report:
    """``parameters`` as CloudFormation resolves them (``parameter_values``)."""
    report = Report()
    listed = stacks.resources(engine, stack)
    resolver = Resolver(engine, stack, template, parameters, listed)
    events = engine.client("cloudformation").describe_stack_events(StackName=stack)["StackEvents"]
    said = {
        e["LogicalResourceId"]: e.get("ResourceStatusReason") or ""
        for e in events
        if e["ResourceStatus"] == "CREATE_COMPLETE"
    }
    made = sorted(r["LogicalResourceId"] for r in listed)
    if made != sorted(template["Resources"]):
        missing = sorted(set(template["Resources"]) - set(made))
        extra = sorted(set(made) - set(template["Resources"]))
        report.problems.append(
            f"{stack}: not deployed {missing}, deployed but not in the template {extra}"
        )
    for deployed in listed:
        logical, kind = deployed["LogicalResourceId"], deployed["ResourceType"]
        where = f"{stack}/{logical} ({kind})"
        if deployed["ResourceStatus"] != "CREATE_COMPLETE":
            report.problems.append(f"{where}: {deployed['ResourceStatus']}")
            continue
        properties = template["Resources"].get(logical, {}).get("Properties", {})
        if kind in PLACEHOLDERS:
            if PLACEHOLDER_SAYS not in said.get(logical, ""):
                report.problems.append(
                    f"{where}: expected the engine's placeholder, it said {said.get(logical)!r}"
                )
            report.placeholders[kind] = report.placeholders.get(kind, 0) + 1
            continue
        if kind in STAND_INS:
            report.stand_ins[kind] = report.stand_ins.get(kind, 0) + 1
            continue
        if kind == "AWS::SQS::QueuePolicy":
            report.problems += _queue_policy(engine, resolver, where, properties, report)
            report.checked[kind] = report.checked.get(kind, 0) + 1
            continue
        if kind in CHECKED_ON_OTHERS:
            report.checked[kind] = report.checked.get(kind, 0) + 1
            continue
        if kind not in CHECKED:
            report.problems.append(f"{where}: the engine deployed a type no check covers")
            continue
        fetch, names = CHECKED[kind]
        try:
            physical = deployed["PhysicalResourceId"]
            if kind == "AWS::S3::BucketPolicy":
                physical = resolver.value(properties["Bucket"])
            actual = fetch(engine, physical)
        except Exception as exc:
            report.problems.append(
                f"{where}: not found through its API ({type(exc).__name__}: {exc})"
            )
            continue
        for name in names:
            if name not in properties:
                continue
            if (kind, name) in ENGINE_IGNORES:
                cause, default = ENGINE_IGNORES[kind, name]
                shown = actual.get(name)
                if shown != default:
                    report.problems.append(
                        f"{where}/{name}: the engine now shows {shown!r}, not its default "
                        f"{default!r}: compare it, and remove the ENGINE_IGNORES row"
                    )
                report.uncompared.append(f"{where}/{name}: {cause}")
                continue
            try:
                expected = resolver.value(properties[name])
            except Unresolved as exc:
                report.uncompared.append(f"{where}/{name}: {exc}")
                continue
            dropped = ENGINE_DROPS.get((kind, name))
            if dropped and isinstance(expected, dict):
                expected = {k: v for k, v in expected.items() if k != dropped[0]}
            missing_key = _missing_key(engine, kind, name, expected)
            if missing_key:
                report.uncompared.append(f"{where}/{name}: {missing_key}")
                continue
            if kind == "AWS::Events::Rule" and name == "Targets":
                expected = [_api_target(t) for t in expected]
            report.problems += [
                f"{stack}/{logical}: {p}"
                for p in subset_problems(
                    expected, actual.get(name, actual.get(name[0].lower() + name[1:])), name
                )
            ]
        if kind == "AWS::StepFunctions::StateMachine":
            report.problems += _definition(resolver, where, properties, actual, report)
        report.checked[kind] = report.checked.get(kind, 0) + 1
    return report


def _missing_key(engine: Engine, kind: str, name: str, expected: Any) -> str | None:
    """SSE-KMS with a key the engine does not hold (the goldens name made-up keys): the
    engine then stores AES256 instead, so the encryption cannot be compared."""
    if (kind, name) != ("AWS::S3::Bucket", "BucketEncryption"):
        return None
    for rule in expected.get("ServerSideEncryptionConfiguration", []):
        key = rule.get("ServerSideEncryptionByDefault", {}).get("KMSMasterKeyID")
        if key is None:
            continue
        try:
            engine.client("kms").describe_key(KeyId=key)
        except engine.client("kms").exceptions.NotFoundException:
            return f"SSE-KMS with {key}, a key the engine does not hold: it stores AES256 instead"
    return None


def _api_target(target: dict[str, Any]) -> dict[str, Any]:
    """A rule target as CloudFormation writes it, in the spelling PutTargets/ListTargets use."""
    found = dict(target)
    network = found.get("EcsParameters", {}).get("NetworkConfiguration", {})
    if "AwsVpcConfiguration" in network:
        network["awsvpcConfiguration"] = network.pop("AwsVpcConfiguration")
    return found


def _queue_policy(
    engine: Engine, resolver: Resolver, where: str, properties: dict[str, Any], report: Report
) -> list[str]:
    try:
        expected = resolver.value(properties["PolicyDocument"])
        queues = resolver.value(properties["Queues"])
    except Unresolved as exc:
        report.uncompared.append(f"{where}: {exc}")
        return []
    problems: list[str] = []
    for url in queues:
        policy = (
            engine.client("sqs")
            .get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]
            .get("Policy")
        )
        if policy is None:
            problems.append(f"{where}: {url} has no policy on the engine")
            continue
        problems += [
            f"{where}: {p}" for p in subset_problems(expected, json.loads(policy), "PolicyDocument")
        ]
    return problems


def _definition(
    resolver: Resolver,
    where: str,
    properties: dict[str, Any],
    actual: dict[str, Any],
    report: Report,
) -> list[str]:
    """The stored definition must be the template's DefinitionString with its
    DefinitionSubstitutions applied (each ``${name}``, resolved against the stack)."""
    source = properties.get("DefinitionString")
    if source is None:
        return [f"{where}: no DefinitionString in the template"]
    try:
        text = resolver.value(source)
        substitutions = resolver.value(properties.get("DefinitionSubstitutions", {}))
    except Unresolved as exc:
        report.uncompared.append(f"{where}/DefinitionString: {exc}")
        return []
    for key, value in substitutions.items():
        text = text.replace("${" + key + "}", str(value))
    if "${" in text:
        return [f"{where}: a placeholder has no substitution: {text[text.index('${') :][:60]}"]
    if json.loads(text) != actual["Definition"]:
        return [f"{where}: the stored definition differs from the substituted DefinitionString"]
    return []
