"""SPEC §3's semantics, checked on the expanded golden templates."""

from __future__ import annotations

import json
from typing import Any

import pytest
from private_s3_processor.delivery.direct import INPUT_PATHS, input_template
from private_s3_processor.rules import MAX_OVERRIDES_CHARS

from tests.golden import cases
from tests.iam import as_list, statements

OUTPUTS = {n: cases.expected(n) for n in cases.success_names()}


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def processors(template: dict[str, Any]) -> list[str]:
    return [
        b["Metadata"]["PrivateS3Processor"]["Processor"]
        for b in of_type(template, "AWS::S3::Bucket").values()
        if "PrivateS3Processor" in b.get("Metadata", {})
    ]


@pytest.mark.parametrize("name", sorted(OUTPUTS))
def test_no_internet_path(name: str) -> None:
    kinds = {r["Type"] for r in OUTPUTS[name]["Resources"].values()}
    assert not kinds & {
        "AWS::EC2::InternetGateway",
        "AWS::EC2::NatGateway",
        "AWS::EC2::EIP",
        "AWS::EC2::VPCGatewayAttachment",
        "AWS::EC2::EgressOnlyInternetGateway",
    }
    for subnet in of_type(OUTPUTS[name], "AWS::EC2::Subnet").values():
        assert subnet["Properties"]["MapPublicIpOnLaunch"] is False
    for rule in of_type(OUTPUTS[name], "AWS::Events::Rule").values():
        if "EcsParameters" not in rule["Properties"]["Targets"][0]:
            continue  # the failure rule or a Queued rule: its target is a queue
        vpc = rule["Properties"]["Targets"][0]["EcsParameters"]["NetworkConfiguration"]
        assert vpc["AwsVpcConfiguration"]["AssignPublicIp"] == "DISABLED"
    for service in of_type(OUTPUTS[name], "AWS::ECS::Service").values():
        vpc = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert vpc["AssignPublicIp"] == "DISABLED"


def task_groups(template: dict[str, Any], p: str) -> list[Any]:
    """The security groups a task of processor ``p`` runs with: the rule target's (Direct),
    the state machine's comma-joined substitution (Orchestrated) or the service's (Queued)."""
    res = template["Resources"]
    service = res.get(f"{p}Service")
    if service is not None:
        return list(
            service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"]
        )
    machine = res.get(f"{p}StateMachine")
    if machine is not None:
        joined = machine["Properties"]["DefinitionSubstitutions"]["SecurityGroups"]
        separator, groups = joined["Fn::Join"]
        assert separator == ","
        return list(groups)
    target = res[f"{p}Rule"]["Properties"]["Targets"][0]
    return list(
        target["EcsParameters"]["NetworkConfiguration"]["AwsVpcConfiguration"]["SecurityGroups"]
    )


@pytest.mark.parametrize("name", sorted(OUTPUTS))
def test_tasks_reach_the_endpoints_and_s3_only(name: str) -> None:
    """SPEC semantics 5: the task's groups have no ingress, and together allow TCP 443 to
    the endpoints' group and S3's prefix list only; the endpoints admit TCP 443 only from
    groups that tasks carry. The task's own group is one of them."""
    template = OUTPUTS[name]
    res = template["Resources"]
    carried = set()
    for p in processors(template):
        groups = task_groups(template, p)
        assert groups[0] == {"Fn::GetAtt": [f"{p}TaskSecurityGroup", "GroupId"]}
        egress = []
        for group in groups:
            props = res[group["Fn::GetAtt"][0]]["Properties"]
            assert "SecurityGroupIngress" not in props
            egress += props["SecurityGroupEgress"]
            carried.add(json.dumps(group, sort_keys=True))
        assert {(r["IpProtocol"], r["FromPort"], r["ToPort"]) for r in egress} == {
            ("tcp", 443, 443)
        }
        assert [r["DestinationPrefixListId"] for r in egress if "DestinationPrefixListId" in r] == [
            cases.PREFIX_LIST
        ]
        endpoint_groups = [
            r["DestinationSecurityGroupId"] for r in egress if "DestinationSecurityGroupId" in r
        ]
        assert len(endpoint_groups) == 1
        assert not any("CidrIp" in r or "CidrIpv6" in r for r in egress)
        admitted = [
            r["Properties"]["SourceSecurityGroupId"]
            for r in of_type(template, "AWS::EC2::SecurityGroupIngress").values()
            if r["Properties"]["GroupId"] == endpoint_groups[0]
        ]
        assert any(a in groups for a in admitted), (p, admitted)
    for ingress in of_type(template, "AWS::EC2::SecurityGroupIngress").values():
        props = ingress["Properties"]
        assert (props["IpProtocol"], props["FromPort"], props["ToPort"]) == ("tcp", 443, 443)
        assert json.dumps(props["SourceSecurityGroupId"], sort_keys=True) in carried
        assert not {"CidrIp", "CidrIpv6", "SourcePrefixListId"} & set(props)


def test_a_shared_network_admits_its_tasks_with_one_rule() -> None:
    """12 resources per processor (CloudFormation's 500 then hold 40): the endpoints admit
    the shared endpoint-client group, which every task carries besides its own."""
    res = OUTPUTS["three_processors"]["Resources"]
    assert "PrivateS3EndpointClientIngress" in res
    assert not [k for k in res if k.endswith("EndpointIngress") and not k.startswith("PrivateS3")]
    for p in ("Alpha", "Beta", "Gamma"):
        assert task_groups(OUTPUTS["three_processors"], p)[1] == {
            "Fn::GetAtt": ["PrivateS3EndpointClientSecurityGroup", "GroupId"]
        }


def _services(template: dict[str, Any]) -> set[str]:
    found = set()
    for ep in of_type(template, "AWS::EC2::VPCEndpoint").values():
        name = ep["Properties"]["ServiceName"]["Fn::Sub"].split("}.", 1)[1]
        found.add((name, ep["Properties"]["VpcEndpointType"]))
    return found


INTERFACE_ALL = {"ecr.api", "ecr.dkr", "ecs", "ecs-telemetry", "logs"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("defaults", INTERFACE_ALL),
        ("minimal_endpoints", {"ecr.api", "ecr.dkr", "logs"}),
        ("kms", INTERFACE_ALL | {"kms"}),
        ("three_processors", INTERFACE_ALL | {"kms"}),
        ("existing_vpc", INTERFACE_ALL),
        ("existing_vpc_endpoints", set()),
        # Queued adds sqs (its queue) and ecs (task scale-in protection) to any set.
        ("queued_defaults", INTERFACE_ALL | {"sqs"}),
        ("queued_kms", INTERFACE_ALL | {"sqs", "kms"}),
        ("queued_existing_vpc", {"ecr.api", "ecr.dkr", "logs", "ecs", "sqs"}),
        ("queued_tags", {"ecr.api", "ecr.dkr", "logs", "ecs", "sqs"}),
    ],
)
def test_endpoints(name: str, expected: set[str]) -> None:
    services = _services(OUTPUTS[name])
    assert {s for s, kind in services if kind == "Interface"} == expected
    gateways = {s for s, kind in services if kind == "Gateway"}
    assert gateways == ({"s3"} if expected else set())
    for ep in of_type(OUTPUTS[name], "AWS::EC2::VPCEndpoint").values():
        if ep["Properties"]["VpcEndpointType"] == "Interface":
            assert ep["Properties"]["PrivateDnsEnabled"] is True


def test_created_vpc_has_dns_on_and_shared_by_all() -> None:
    for name in ("two_processors", "three_processors", "tags"):
        template = OUTPUTS[name]
        vpcs = of_type(template, "AWS::EC2::VPC")
        assert list(vpcs) == ["PrivateS3Vpc"]
        assert vpcs["PrivateS3Vpc"]["Properties"]["EnableDnsSupport"] is True
        assert vpcs["PrivateS3Vpc"]["Properties"]["EnableDnsHostnames"] is True
        assert list(of_type(template, "AWS::ECS::Cluster")) == ["PrivateS3Cluster"]
        assert len(
            {
                r["Properties"]["ServiceName"]["Fn::Sub"]
                for r in of_type(template, "AWS::EC2::VPCEndpoint").values()
            }
        ) == len(of_type(template, "AWS::EC2::VPCEndpoint"))
        assert len(processors(template)) >= 2


def test_three_azs_three_subnets() -> None:
    subnets = of_type(OUTPUTS["three_azs"], "AWS::EC2::Subnet")
    assert [s["Properties"]["CidrBlock"] for s in subnets.values()] == [
        "172.20.0.0/22",
        "172.20.4.0/22",
        "172.20.8.0/22",
    ]
    assert [s["Properties"]["AvailabilityZone"]["Fn::Select"][0] for s in subnets.values()] == [
        0,
        1,
        2,
    ]


@pytest.mark.parametrize("name", sorted(OUTPUTS))
def test_vpc_endpoint_deny_covers_object_actions_only(name: str) -> None:
    for _logical_id, kind, st in statements(OUTPUTS[name]):
        if kind != "resource" or st.get("Effect") != "Deny":
            continue
        condition = st["Condition"]
        if "Bool" in condition:
            assert condition == {"Bool": {"aws:SecureTransport": "false"}}
            continue
        actions = as_list(st["Action"])
        assert all("Object" in a for a in actions), actions
        assert not any(a in ("s3:*", "*") or "Bucket" in a for a in actions)
        resource = st["Resource"]["Fn::Sub"]
        assert resource.endswith("/*"), "object ARNs only"


def test_allowed_principals_are_exempt_and_restriction_can_be_off() -> None:
    template = OUTPUTS["bucket_policy_options"]
    policy = template["Resources"]["IntakeBucketPolicy"]["Properties"]["PolicyDocument"]
    deny = next(s for s in policy["Statement"] if s["Sid"] == "DenyObjectAccessOutsideVpcEndpoint")
    assert deny["Condition"]["StringNotEquals"] == {
        "aws:sourceVpce": {"Ref": "PrivateS3S3Endpoint"}
    }
    assert len(deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"]) == 2
    open_policy = template["Resources"]["OpenBucketPolicy"]["Properties"]["PolicyDocument"]
    assert [s["Sid"] for s in open_policy["Statement"]] == ["DenyInsecureTransport"]


def test_existing_vpc_without_gateway_id_uses_source_vpc() -> None:
    policy = OUTPUTS["existing_vpc_endpoints"]["Resources"]["NoGatewayBucketPolicy"]
    deny = policy["Properties"]["PolicyDocument"]["Statement"][1]
    assert deny["Condition"]["StringNotEquals"] == {"aws:SourceVpc": "vpc-0abc1234def567890"}


def _role_statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    props = template["Resources"][role]["Properties"]
    return [st for p in props["Policies"] for st in p["PolicyDocument"]["Statement"]]


def test_task_role_reads_prefix_writes_output_lists_both() -> None:
    sts = {s["Sid"]: s for s in _role_statements(OUTPUTS["prefix_and_suffix"], "InvoicesTaskRole")}
    assert sts["ReadTriggeringObjects"]["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:s3:::${InvoicesBucket}/inbound/*"
    }
    assert sts["WriteOutputs"]["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:s3:::${InvoicesBucket}/processed/*"
    }
    assert sts["ListOwnPrefixes"]["Condition"] == {
        "StringLike": {"s3:prefix": ["inbound/*", "processed/*"]}
    }
    read_only = {s["Sid"] for s in _role_statements(OUTPUTS["suffix_only"], "CsvTaskRole")}
    assert "WriteOutputs" not in read_only


def test_iam_wildcards_in_prefixes_are_literal() -> None:
    sts = {s["Sid"]: s for s in _role_statements(OUTPUTS["special_characters"], "StarsTaskRole")}
    # Prefix in*box\\${x}?/ : IAM's ${*} ${?} ${$} stand for the characters, and each ${
    # is written ${! inside Fn::Sub.
    assert sts["ReadTriggeringObjects"]["Resource"]["Fn::Sub"].endswith(
        "${InvoicesBucket}".replace("Invoices", "Stars") + "/in${!*}box\\\\${!$}{x}${!?}/*"
    )
    assert sts["ListOwnPrefixes"]["Condition"]["StringLike"]["s3:prefix"] == [
        "in${*}box\\\\${$}{x}${?}/*",
        "out${$}/*",
    ]


def test_events_role_is_scoped() -> None:
    sts = {
        s["Sid"]: s for s in _role_statements(OUTPUTS["prefix_and_suffix"], "InvoicesEventsRole")
    }
    run = sts["RunProcessorTask"]
    assert run["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:"
        "${AWS::AccountId}:task-definition/${AWS::StackName}-Invoices:*"
    }
    assert run["Condition"] == {
        "ArnEquals": {"ecs:cluster": {"Fn::GetAtt": ["PrivateS3Cluster", "Arn"]}}
    }
    passing = sts["PassTaskRoles"]
    assert passing["Resource"] == [
        {"Fn::GetAtt": ["InvoicesTaskRole", "Arn"]},
        {"Fn::GetAtt": ["InvoicesExecutionRole", "Arn"]},
    ]
    assert passing["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    }
    family = OUTPUTS["prefix_and_suffix"]["Resources"]["InvoicesTaskDefinition"]["Properties"][
        "Family"
    ]
    assert family == {"Fn::Sub": "${AWS::StackName}-Invoices"}


def test_execution_role_pulls_only_its_repository() -> None:
    sts = {
        s["Sid"]: s for s in _role_statements(OUTPUTS["prefix_and_suffix"], "InvoicesExecutionRole")
    }
    assert sts["PullImage"]["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:ecr:eu-west-1:123456789012:repository/invoice-worker"
    }
    assert sts["WriteOwnLogs"]["Resource"] == {"Fn::GetAtt": ["InvoicesLogGroup", "Arn"]}


def _overrides(template: str, event: dict[str, Any]) -> str:
    """EventBridge's substitution as its documentation describes it: raw values, no escaping."""
    out = template
    for var, path in INPUT_PATHS.items():
        value: Any = event
        for part in path.removeprefix("$.").split("."):
            value = value[part]
        out = out.replace(f"<{var}>", str(value))
    return out


def test_input_transformer_passes_the_event(s3_event: dict[str, Any]) -> None:
    rule = OUTPUTS["prefix_and_suffix"]["Resources"]["InvoicesRule"]["Properties"]
    transformer = rule["Targets"][0]["InputTransformer"]
    assert transformer["InputTemplate"] == input_template()
    overrides = json.loads(_overrides(transformer["InputTemplate"], s3_event))
    container = overrides["containerOverrides"][0]
    assert container["name"] == "worker"
    env = {e["name"]: e["value"] for e in container["environment"]}
    obj = s3_event["detail"]["object"]
    assert env == {
        "S3_BUCKET": s3_event["detail"]["bucket"]["name"],
        "S3_KEY": obj["key"],
        "S3_SIZE": str(obj["size"]),
        "S3_ETAG": obj["etag"],
        "S3_VERSION_ID": obj["version-id"],
    }
    td = OUTPUTS["prefix_and_suffix"]["Resources"]["InvoicesTaskDefinition"]["Properties"]
    assert td["ContainerDefinitions"][0]["Name"] == "worker"
    assert td["ContainerDefinitions"][0]["Environment"] == [
        {"Name": "OUTPUT_PREFIX", "Value": "processed/"}
    ]


def test_overrides_fit_ecs_limit_for_the_longest_key(s3_event: dict[str, Any]) -> None:
    event = json.loads(json.dumps(s3_event))
    event["detail"]["bucket"]["name"] = "b" * 63
    event["detail"]["object"]["key"] = "k" * 1024
    event["detail"]["object"]["etag"] = "e" * 32 + "-10000"
    event["detail"]["object"]["version-id"] = "v" * 1024
    event["detail"]["object"]["size"] = 5 * 1024**4
    assert len(_overrides(input_template(), event)) <= MAX_OVERRIDES_CHARS


@pytest.mark.parametrize("key", ['say "hi".csv', "back\\slash.csv"])
def test_quote_or_backslash_breaks_direct_input(s3_event: dict[str, Any], key: str) -> None:
    """Documented EventBridge behaviour: such a key yields invalid target input (it goes to
    the dead-letter queue); this records that the template does not hide it."""
    s3_event["detail"]["object"]["key"] = key
    text = _overrides(input_template(), s3_event)
    with pytest.raises(json.JSONDecodeError):
        parsed = json.loads(text)
        # A backslash can form a valid escape and silently change the key instead.
        if parsed["containerOverrides"][0]["environment"][1]["value"] != key:
            raise json.JSONDecodeError("key altered", text, 0)


def test_retry_policy_and_dead_letter_queue() -> None:
    res = OUTPUTS["bucket_policy_options"]["Resources"]
    target = res["IntakeRule"]["Properties"]["Targets"][0]
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 3600}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["IntakeDeadLetterQueue", "Arn"]}}
    queue = res["IntakeDeadLetterQueue"]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    policy = res["IntakeDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    allow = [s for s in policy if s["Effect"] == "Allow"]
    assert allow == [
        {
            "Sid": "OnlyTheseRules",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": {"Fn::GetAtt": ["IntakeDeadLetterQueue", "Arn"]},
            "Condition": {
                "ArnEquals": {
                    "aws:SourceArn": [
                        {"Fn::GetAtt": ["IntakeRule", "Arn"]},
                        {"Fn::GetAtt": ["IntakeFailureRule", "Arn"]},
                    ]
                }
            },
        }
    ]


def test_test_mode_echoes_and_sleeps_production_runs_the_image() -> None:
    trial = OUTPUTS["test_mode"]["Resources"]["TrialTaskDefinition"]["Properties"]
    container = trial["ContainerDefinitions"][0]
    assert container["EntryPoint"] == ["sh", "-c"]
    script = container["Command"][0]
    for name in ("S3_BUCKET", "S3_KEY", "S3_SIZE", "S3_ETAG"):
        assert f"{name}=${name}" in script
    assert "sleep" in script
    heavy = OUTPUTS["arm64_sizing"]["Resources"]["HeavyTaskDefinition"]["Properties"]
    assert "EntryPoint" not in heavy["ContainerDefinitions"][0]
    assert heavy["ContainerDefinitions"][0]["Command"] == [
        "python",
        "-m",
        "private_s3_worker",
        "--verbose",
    ]
    assert heavy["RuntimePlatform"]["CpuArchitecture"] == "ARM64"
    assert (heavy["Cpu"], heavy["Memory"], heavy["EphemeralStorage"]["SizeInGiB"]) == (
        "2048",
        "8192",
        100,
    )
    smallest = OUTPUTS["arm64_sizing"]["Resources"]["SmallestTaskDefinition"]["Properties"]
    assert (smallest["Cpu"], smallest["Memory"]) == ("1024", "2048")


def test_kms_key_grants_and_bucket_encryption() -> None:
    res = OUTPUTS["kms"]["Resources"]
    sse = res["SealedBucket"]["Properties"]["BucketEncryption"][
        "ServerSideEncryptionConfiguration"
    ][0]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert sse["BucketKeyEnabled"] is True
    sts = {s["Sid"]: s for s in _role_statements(OUTPUTS["kms"], "SealedTaskRole")}
    assert sts["UseBucketKey"]["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]


@pytest.mark.parametrize("name", sorted(OUTPUTS))
def test_no_reference_to_a_processor_survives(name: str) -> None:
    template = OUTPUTS[name]
    text = json.dumps(template)
    for p in processors(template):
        assert json.dumps({"Ref": p}) not in text
        assert f'"Fn::GetAtt": ["{p}"' not in text
        assert "${" + p + "}" not in text and "${" + p + "." not in text
        for res in template["Resources"].values():
            assert p not in as_list(res.get("DependsOn", []))


def test_references_are_rewritten() -> None:
    out = OUTPUTS["references"]["Outputs"]
    assert out["BucketName"]["Value"] == {"Ref": "InvoicesBucket"}
    assert out["BucketArn"]["Value"] == {"Fn::GetAtt": ["InvoicesBucket", "Arn"]}
    assert out["VpcId"]["Value"] == {"Ref": "PrivateS3Vpc"}
    assert out["Summary"]["Value"] == {
        "Fn::Sub": "bucket ${InvoicesBucket} in ${PrivateS3Vpc}, "
        "rule ${InvoicesRule.Arn}, ${!Literal}"
    }
    assert out["SubWithMap"]["Value"] == {
        "Fn::Sub": ["${InvoicesBucket}:${Extra}", {"Extra": {"Ref": "InvoicesLogGroup"}}]
    }
    reader = OUTPUTS["references"]["Resources"]["Reader"]
    assert "InvoicesRule" in reader["DependsOn"] and "Topic" in reader["DependsOn"]
    existing = OUTPUTS["existing_vpc"]["Outputs"]
    assert existing["Vpc"]["Value"] == {"Ref": "VpcId"}
    assert existing["VpcInSub"]["Value"] == {"Fn::Sub": "vpc=${VpcId}"}


def test_stable_logical_ids() -> None:
    """The documented IDs of one processor (changing any replaces users' resources)."""
    assert sorted(cases.expected("prefix_and_suffix")["Resources"]) == sorted(
        [
            "PrivateS3Vpc",
            "PrivateS3RouteTable",
            "PrivateS3Subnet1",
            "PrivateS3Subnet1RouteTableAssociation",
            "PrivateS3Subnet2",
            "PrivateS3Subnet2RouteTableAssociation",
            "PrivateS3EndpointSecurityGroup",
            "PrivateS3EndpointClientSecurityGroup",
            "PrivateS3EndpointClientIngress",
            "PrivateS3S3Endpoint",
            "PrivateS3EcrApiEndpoint",
            "PrivateS3EcrDkrEndpoint",
            "PrivateS3EcsEndpoint",
            "PrivateS3EcsTelemetryEndpoint",
            "PrivateS3LogsEndpoint",
            "PrivateS3Cluster",
            "InvoicesBucket",
            "InvoicesBucketPolicy",
            "InvoicesLogGroup",
            "InvoicesTaskRole",
            "InvoicesExecutionRole",
            "InvoicesTaskDefinition",
            "InvoicesTaskSecurityGroup",
            "InvoicesEventsRole",
            "InvoicesRule",
            "InvoicesDeadLetterQueue",
            "InvoicesDeadLetterQueuePolicy",
            "InvoicesFailureRule",
        ]
    )


@pytest.mark.parametrize(
    ("name", "untaggable"),
    [
        ("tags", set()),
        # Queue policies and scaling policies are not taggable in CloudFormation.
        ("queued_tags", {"TaggedQueuePolicy", "TaggedScaleOutPolicy", "TaggedScaleInPolicy"}),
    ],
)
def test_tags_on_taggable_resources(name: str, untaggable: set[str]) -> None:
    res = OUTPUTS[name]["Resources"]
    for logical_id, r in res.items():
        if logical_id.startswith("Tagged"):
            tags = r["Properties"].get("Tags")
            if tags is not None:
                assert {"Key": "cost-center", "Value": "42"} in tags
    shared = res["PrivateS3Vpc"]["Properties"]["Tags"]
    assert {"Key": "team", "Value": {"Ref": "Team"}} in shared
    assert not any(t["Key"] == "cost-center" for t in shared)
    untagged = {
        k for k, r in res.items() if k.startswith("Tagged") and "Tags" not in r["Properties"]
    }
    # Policies and security-group rules are not taggable in CloudFormation.
    assert (
        untagged
        == {
            "TaggedBucketPolicy",
            "TaggedDeadLetterQueuePolicy",
        }
        | untaggable
    )
    assert "Tags" not in cases.expected("defaults")["Resources"]["UploadsBucket"]["Properties"]


def test_resource_counts_quoted_in_the_readme() -> None:
    """28 resources for one processor (16 shared), 40 for two, 12 per further processor."""
    one = OUTPUTS["prefix_and_suffix"]["Resources"]
    two = OUTPUTS["two_processors"]["Resources"]
    three = OUTPUTS["three_processors"]["Resources"]
    assert len(one) == 28
    assert len([k for k in one if k.startswith("PrivateS3")]) == 16
    assert len(two) == 40
    # Three processors: one more (the kms endpoint, Beta uses a KMS key) besides 12 more.
    assert len(three) == 40 + 12 + 1


def _task_event(
    exit_code: int | None,
    stop_code: str = "EssentialContainerExited",
    family: str = "my-stack-Invoices",
    status: str = "STOPPED",
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "worker", "lastStatus": status}
    if exit_code is not None:
        container["exitCode"] = exit_code
    return {
        "source": "aws.ecs",
        "detail-type": "ECS Task State Change",
        "detail": {
            "clusterArn": "arn:aws:ecs:eu-west-1:123456789012:cluster/c1",
            "lastStatus": status,
            "taskDefinitionArn": f"arn:aws:ecs:eu-west-1:123456789012:task-definition/{family}:3",
            "stopCode": stop_code,
            "containers": [container],
        },
    }


@pytest.mark.parametrize(
    ("event", "failed"),
    [
        (_task_event(0), False),
        (_task_event(10), False),
        (_task_event(11), False),
        (_task_event(1), True),
        (_task_event(70), True),
        (_task_event(78), True),
        (_task_event(137), True),
        (_task_event(None, "TaskFailedToStart"), True),
        (_task_event(0, "SpotInterruption"), True),
        (_task_event(1, status="RUNNING"), False),
        (_task_event(1, family="my-stack-Other"), False),
        (_task_event(1, family="my-stack-InvoicesArchive"), False),
    ],
)
def test_failure_rule_catches_failed_tasks_only(event: dict[str, Any], failed: bool) -> None:
    from moto.events.models import EventPattern
    from private_s3_processor_cli.local.eventbridge import single_elements_unwrapped

    rule = OUTPUTS["prefix_and_suffix"]["Resources"]["InvoicesFailureRule"]["Properties"]
    text = json.dumps(rule["EventPattern"])
    text = text.replace(
        json.dumps({"Fn::GetAtt": ["PrivateS3Cluster", "Arn"]}),
        json.dumps("arn:aws:ecs:eu-west-1:123456789012:cluster/c1"),
    )
    prefix = "arn:aws:ecs:eu-west-1:123456789012:task-definition/my-stack-Invoices:"
    text = text.replace(
        json.dumps(
            {
                "Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:"
                "${AWS::AccountId}:task-definition/${AWS::StackName}-Invoices:"
            }
        ),
        json.dumps(prefix),
    )
    assert "Fn::" not in text
    # moto's matcher does not descend into arrays of objects as EventBridge does; with one
    # container the unwrapped event is equivalent (see local.single_elements_unwrapped).
    assert EventPattern.load(text).matches_event(single_elements_unwrapped(event)) is failed
    target = rule["Targets"][0]
    assert target["Arn"] == {"Fn::GetAtt": ["InvoicesDeadLetterQueue", "Arn"]}


def test_non_failure_exit_codes_are_the_workers() -> None:
    from private_s3_processor.rules import NON_FAILURE_EXIT_CODES
    from private_s3_worker import ExitCode

    assert NON_FAILURE_EXIT_CODES == (ExitCode.PROCESSED, ExitCode.SKIPPED, ExitCode.GONE)


def test_two_alarms_watch_the_dead_letter_queue() -> None:
    """The first message, and (tests/test_dead_letter.py) the age of the oldest one."""
    res = OUTPUTS["alarms"]["Resources"]
    assert [k for k, r in res.items() if r["Type"] == "AWS::CloudWatch::Alarm"] == [
        "WatchedDeadLetterAlarm",
        "WatchedDeadLetterAgeAlarm",
    ]
    for alarm, queue in (("WatchedDeadLetterAlarm", "WatchedDeadLetterQueue"),):
        props = res[alarm]["Properties"]
        assert props["Dimensions"] == [
            {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}
        ]
        assert props["AlarmActions"] == [{"Ref": "Alerts"}]
        assert (props["MetricName"], props["Threshold"], props["ComparisonOperator"]) == (
            "ApproximateNumberOfMessagesVisible",
            0,
            "GreaterThanThreshold",
        )
    assert not any(
        r["Type"] == "AWS::CloudWatch::Alarm" for r in OUTPUTS["defaults"]["Resources"].values()
    )
