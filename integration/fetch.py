"""Each resource type read back through the engine's own API, in CloudFormation's shape
where the API's differs (integration/checks.py compares these with the template)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from integration.engine import Engine


def bucket(engine: Engine, name: str) -> dict[str, Any]:
    s3 = engine.client("s3")
    found: dict[str, Any] = {}
    notification = s3.get_bucket_notification_configuration(Bucket=name)
    if "EventBridgeConfiguration" in notification:
        found["NotificationConfiguration"] = {
            "EventBridgeConfiguration": {"EventBridgeEnabled": True}
        }
    calls: list[tuple[str, Callable[[], Any]]] = [
        (
            "BucketEncryption",
            lambda: s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"],
        ),
        (
            "PublicAccessBlockConfiguration",
            lambda: s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"],
        ),
        (
            "VersioningConfiguration",
            lambda: {"Status": s3.get_bucket_versioning(Bucket=name).get("Status")},
        ),
        (
            "OwnershipControls",
            lambda: s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"],
        ),
        ("Tags", lambda: s3.get_bucket_tagging(Bucket=name)["TagSet"]),
    ]
    for key, call in calls:
        try:
            found[key] = call()
        except s3.exceptions.ClientError:
            continue
    if "BucketEncryption" in found:
        # The API says ApplyServerSideEncryptionByDefault where CloudFormation says
        # ServerSideEncryptionByDefault.
        rules = [
            {
                (
                    "ServerSideEncryptionByDefault"
                    if k == "ApplyServerSideEncryptionByDefault"
                    else k
                ): v
                for k, v in rule.items()
            }
            for rule in found["BucketEncryption"]["Rules"]
        ]
        found["BucketEncryption"] = {"ServerSideEncryptionConfiguration": rules}
    return found


def bucket_policy(engine: Engine, name: str) -> dict[str, Any]:
    # Called with the policy's Bucket property resolved (the engine's physical ID for a
    # bucket policy is an opaque one).
    return {
        "PolicyDocument": json.loads(engine.client("s3").get_bucket_policy(Bucket=name)["Policy"])
    }


def queue(engine: Engine, url: str) -> dict[str, Any]:
    attributes = engine.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])[
        "Attributes"
    ]
    found: dict[str, Any] = dict(attributes)
    if "RedrivePolicy" in found:
        found["RedrivePolicy"] = json.loads(found["RedrivePolicy"])
    found["QueueName"] = url.rsplit("/", 1)[-1]
    return found


def rule(engine: Engine, physical: str) -> dict[str, Any]:
    events = engine.client("events")
    name = physical.rsplit("/", 1)[-1]
    rule = events.describe_rule(Name=name)
    targets = events.list_targets_by_rule(Rule=name)["Targets"]
    return {
        "EventPattern": json.loads(rule["EventPattern"]),
        "State": rule["State"],
        "Description": rule.get("Description"),
        "Targets": targets,
    }


def role(engine: Engine, name: str) -> dict[str, Any]:
    iam = engine.client("iam")
    role = iam.get_role(RoleName=name)["Role"]
    policies = [
        {
            "PolicyName": p,
            "PolicyDocument": iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"],
        }
        for p in iam.list_role_policies(RoleName=name)["PolicyNames"]
    ]
    attached = [
        p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
    ]
    found = {**role, "Policies": policies, "ManagedPolicyArns": attached}
    if "PermissionsBoundary" in role:
        found["PermissionsBoundary"] = role["PermissionsBoundary"]["PermissionsBoundaryArn"]
    tags = iam.list_role_tags(RoleName=name)["Tags"]
    if tags:
        found["Tags"] = tags
    return found


def managed_policy(engine: Engine, arn: str) -> dict[str, Any]:
    iam = engine.client("iam")
    policy = iam.get_policy(PolicyArn=arn)["Policy"]
    version = iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])[
        "PolicyVersion"
    ]
    return {**policy, "PolicyDocument": version["Document"]}


def log_group(engine: Engine, name: str) -> dict[str, Any]:
    groups = engine.client("logs").describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    group = next(g for g in groups if g["logGroupName"] == name)
    return {
        "LogGroupName": name,
        "RetentionInDays": group.get("retentionInDays"),
        "KmsKeyId": group.get("kmsKeyId"),
    }


def state_machine(engine: Engine, arn: str) -> dict[str, Any]:
    machine = engine.client("stepfunctions").describe_state_machine(stateMachineArn=arn)
    return {
        "RoleArn": machine["roleArn"],
        "Definition": json.loads(machine["definition"]),
        "StateMachineType": machine.get("type"),
        "LoggingConfiguration": machine.get("loggingConfiguration"),
        "TracingConfiguration": machine.get("tracingConfiguration"),
    }


def alarm(engine: Engine, name: str) -> dict[str, Any]:
    alarms = engine.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return dict(alarms[0])


def topic(engine: Engine, arn: str) -> dict[str, Any]:
    return dict(engine.client("sns").get_topic_attributes(TopicArn=arn)["Attributes"])


def key(engine: Engine, key: str) -> dict[str, Any]:
    kms = engine.client("kms")
    return {
        "KeyPolicy": json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]),
        "EnableKeyRotation": kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"],
        **kms.describe_key(KeyId=key)["KeyMetadata"],
    }


def vpc(engine: Engine, vpc: str) -> dict[str, Any]:
    return dict(engine.client("ec2").describe_vpcs(VpcIds=[vpc])["Vpcs"][0])


def subnet(engine: Engine, subnet: str) -> dict[str, Any]:
    return dict(engine.client("ec2").describe_subnets(SubnetIds=[subnet])["Subnets"][0])


def route_table(engine: Engine, table: str) -> dict[str, Any]:
    return dict(engine.client("ec2").describe_route_tables(RouteTableIds=[table])["RouteTables"][0])


def association(engine: Engine, association: str) -> dict[str, Any]:
    tables = engine.client("ec2").describe_route_tables(
        Filters=[{"Name": "association.route-table-association-id", "Values": [association]}]
    )["RouteTables"]
    found = next(
        a for t in tables for a in t["Associations"] if a["RouteTableAssociationId"] == association
    )
    return dict(found)


def security_group(engine: Engine, group: str) -> dict[str, Any]:
    found = engine.client("ec2").describe_security_groups(GroupIds=[group])["SecurityGroups"][0]
    egress = []
    for permission in found["IpPermissionsEgress"]:
        ports = {k: permission[k] for k in ("FromPort", "ToPort") if k in permission}
        for kind, key, target in (
            ("IpRanges", "CidrIp", "CidrIp"),
            ("PrefixListIds", "PrefixListId", "DestinationPrefixListId"),
            ("UserIdGroupPairs", "GroupId", "DestinationSecurityGroupId"),
        ):
            for item in permission.get(kind, []):
                rule = {"IpProtocol": permission["IpProtocol"], **ports, target: item[key]}
                if "Description" in item:
                    rule["Description"] = item["Description"]
                egress.append(rule)
    return {
        "GroupDescription": found["Description"],
        "VpcId": found.get("VpcId"),
        "SecurityGroupEgress": egress,
    }


def endpoint(engine: Engine, endpoint: str) -> dict[str, Any]:
    found = dict(
        engine.client("ec2").describe_vpc_endpoints(VpcEndpointIds=[endpoint])["VpcEndpoints"][0]
    )
    found["SecurityGroupIds"] = [g["GroupId"] for g in found.get("Groups", [])]
    if isinstance(found.get("PolicyDocument"), str):
        found["PolicyDocument"] = json.loads(found["PolicyDocument"])
    return found


def function(engine: Engine, name: str) -> dict[str, Any]:
    return dict(engine.client("lambda").get_function_configuration(FunctionName=name))


def macro(engine: Engine, name: str) -> dict[str, Any]:
    # The engine has no API that lists macros; a Transform naming it is the proof (the
    # round-trip tests), and its physical ID is the name.
    return {"Name": name}
