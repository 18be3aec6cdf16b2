"""The worker container's identity and limits, and an alarm topic CloudWatch can publish to.

``User`` makes the container run as that user; without it the task definition carries
the Control Tower suppression, since the image's own USER decides. The container's
memory hard limit is the task's memory. An ``AlarmTopicArn`` naming a topic of the same
template encrypted with the AWS managed ``alias/aws/sns`` is refused (CloudWatch
cannot publish to it). The shipped image declares its ``/tmp`` volume, so its non-root
user can write there.
"""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path
from typing import Any

import pytest
from private_s3_processor import ExpansionError
from private_s3_processor_cli.templates import expand_document

from tests.golden import cases

IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker:1.0"
ROOT = Path(__file__).resolve().parent.parent
NONROOT_RULE = "ecs_task_definition_nonroot_user_check"


def expanded(resources: dict[str, Any], parameters: dict[str, Any] | None = None) -> Any:
    return expand_document(
        {"Resources": resources},
        parameters,
        region=cases.REGION,
        account_id=cases.ACCOUNT,
        prefix_list_id=cases.PREFIX_LIST,
    )


def processor(**props: Any) -> dict[str, Any]:
    return {"Type": "PrivateS3Processor", "Properties": {"Image": IMAGE, **props}}


def task_definitions(out: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: r
        for name, r in out["Resources"].items()
        if r.get("Type") == "AWS::ECS::TaskDefinition"
    }


@pytest.mark.parametrize("name", cases.success_names())
def test_container_user_and_memory_in_every_output(name: str) -> None:
    """Every task definition: the container's hard limit equals the task's memory; the
    container has ``User`` exactly when the non-root suppression is absent."""
    out = cases.expected(name)
    found = task_definitions(out)
    assert found, f"{name}: no task definition"
    for logical_id, td in found.items():
        props = td["Properties"]
        (container,) = props["ContainerDefinitions"]
        assert container["Memory"] == int(props["Memory"]), logical_id
        suppressed = td.get("Metadata", {}).get("guard", {}).get("SuppressedRules", [])
        assert ("User" in container) != (NONROOT_RULE in suppressed), logical_id


@pytest.mark.parametrize("user", ["10001", "10001:10001", "worker", "worker:staff"])
@pytest.mark.parametrize("delivery", ["Direct", "Orchestrated", "Queued"])
@pytest.mark.parametrize("mode", ["Production", "Test"])
def test_user_runs_the_container_in_every_mode(user: str, delivery: str, mode: str) -> None:
    out = expanded({"P": processor(User=user, Delivery=delivery, Mode=mode)})
    (td,) = task_definitions(out).values()
    (container,) = td["Properties"]["ContainerDefinitions"]
    assert container["User"] == user
    assert "Metadata" not in td, "User set: nothing to suppress"


def test_without_user_the_image_decides_and_the_rule_is_suppressed_with_a_reason() -> None:
    out = expanded({"P": processor()})
    (td,) = task_definitions(out).values()
    assert "User" not in td["Properties"]["ContainerDefinitions"][0]
    guard = td["Metadata"]["guard"]
    assert guard["SuppressedRules"] == [NONROOT_RULE]
    assert "10001" in guard["Reasons"][NONROOT_RULE]


@pytest.mark.parametrize(
    "user",
    # root as user or group; a trailing newline ($ would match before it); an ID beyond the
    # nine digits the schema's pattern can also say.
    ["root", "root:root", "app:root", "0", "0:0", "-1", "a b", "", "10001\n", "1234567890"],
)
def test_root_or_malformed_user_is_refused_in_one_line(user: str) -> None:
    with pytest.raises(ExpansionError) as caught:
        expanded({"P": processor(User=user)})
    message = str(caught.value)
    assert "'User'" in message and "\n" not in message
    # The value is shown once (the formatter appends it; the message must not repeat it).
    assert message.count("(got ") == 1


@pytest.mark.parametrize("memory", [(256, None, 512), (1024, 4096, 4096), (16384, 122880, 122880)])
def test_container_memory_is_the_task_memory(memory: tuple[int, int | None, int]) -> None:
    cpu, declared, effective = memory
    props: dict[str, Any] = {"Cpu": cpu}
    if declared is not None:
        props["Memory"] = declared
    (td,) = task_definitions(expanded({"P": processor(**props)})).values()
    assert td["Properties"]["Memory"] == str(effective)
    assert td["Properties"]["ContainerDefinitions"][0]["Memory"] == effective


def test_examples_and_the_example_stack_run_as_the_image_user() -> None:
    for path in [
        *sorted((ROOT / "examples").glob("*.yaml")),
        ROOT / "tests/snapshots/example.yaml",
    ]:
        text = path.read_text(encoding="utf-8")
        assert re.search(r"^\s+User: ['\"]10001['\"]", text, re.M), path.name


def test_the_image_declares_its_tmp_volume_for_its_non_root_user() -> None:
    """ECS creates a task's bind-mount volume root-owned, 0755, unless the image declares
    the path a VOLUME; the worker (user 10001) spools outputs under /tmp."""
    final = (ROOT / "worker/Dockerfile").read_text(encoding="utf-8").rsplit("\nFROM ", 1)[1]
    assert re.search(r"^USER 10001$", final, re.M)
    assert re.search(r'^VOLUME \["/tmp"\]$', final, re.M)


TOPIC_KEYS: list[Any] = [
    "alias/aws/sns",
    # The alias ARN as usually written, with the pseudo parameters.
    {"Fn::Sub": "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:alias/aws/sns"},
    {"Fn::Sub": "alias/aws/sns"},
    "arn:aws:kms:eu-west-1:123456789012:alias/aws/sns",
    "arn:aws-us-gov:kms:us-gov-west-1:123456789012:alias/aws/sns",
]
TOPIC_REFS = [
    {"Ref": "Alerts"},
    {"Fn::Sub": ["${Alerts}", {}]},
    {"Fn::GetAtt": ["Alerts", "TopicArn"]},
    {"Fn::GetAtt": "Alerts.TopicArn"},
    {"Fn::Sub": "${Alerts}"},
    {"Fn::Sub": "${Alerts.TopicArn}"},
]


@pytest.mark.parametrize("key", TOPIC_KEYS)
@pytest.mark.parametrize("ref", TOPIC_REFS)
def test_alarm_topic_on_the_aws_managed_key_is_refused(key: Any, ref: Any) -> None:
    resources = {
        "Alerts": {"Type": "AWS::SNS::Topic", "Properties": {"KmsMasterKeyId": key}},
        "P": processor(AlarmTopicArn=ref),
    }
    with pytest.raises(ExpansionError) as caught:
        expanded(resources)
    message = str(caught.value)
    assert message.startswith("Resource 'P': property 'AlarmTopicArn' names topic 'Alerts'")
    assert "customer managed key" in message and "cloudwatch.amazonaws.com" in message
    assert "\n" not in message


def test_alarm_topic_key_given_through_a_parameter_is_refused() -> None:
    resources = {
        "Alerts": {
            "Type": "AWS::SNS::Topic",
            "Properties": {"KmsMasterKeyId": {"Ref": "TopicKey"}},
        },
        "P": processor(AlarmTopicArn={"Ref": "Alerts"}),
    }
    with pytest.raises(ExpansionError, match="AWS managed key alias/aws/sns"):
        expanded(resources, {"TopicKey": "alias/aws/sns"})


@pytest.mark.parametrize(
    "topic",
    [
        {"Type": "AWS::SNS::Topic", "Properties": {"KmsMasterKeyId": {"Ref": "AlertsKey"}}},
        {"Type": "AWS::SNS::Topic", "Properties": {"KmsMasterKeyId": "alias/my-alarms"}},
        {"Type": "AWS::SNS::Topic", "Properties": {"KmsMasterKeyId": "alias/aws/snsx"}},
        {"Type": "AWS::SNS::Topic"},
        {"Type": "AWS::SNS::Topic", "Properties": "not a map"},
        {"Type": "AWS::SQS::Queue", "Properties": {"KmsMasterKeyId": "alias/aws/sns"}},
    ],
)
def test_other_alarm_topics_are_left_alone(topic: dict[str, Any]) -> None:
    resources = {
        "AlertsKey": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {}}},
        "Alerts": topic,
        "P": processor(AlarmTopicArn={"Ref": "Alerts"}),
    }
    out = expanded(resources)
    assert any(r.get("Type") == "AWS::CloudWatch::Alarm" for r in out["Resources"].values())


def test_an_alarm_topic_outside_the_template_is_not_judged() -> None:
    out = expanded({"P": processor(AlarmTopicArn="arn:aws:sns:eu-west-1:123456789012:x")})
    assert any(r.get("Type") == "AWS::CloudWatch::Alarm" for r in out["Resources"].values())


@pytest.mark.parametrize(
    ("key", "fix"),
    [
        ({"Ref": "Key"}, "use !GetAtt Key.Arn"),
        ({"Fn::GetAtt": ["Key", "KeyId"]}, "use !GetAtt Key.Arn"),
        ({"Ref": "Alias"}, "an alias ARN is not a key ARN"),
    ],
)
def test_a_key_id_or_alias_name_for_kms_key_arn_is_refused(key: Any, fix: str) -> None:
    """Ref of AWS::KMS::Key gives the key ID and of AWS::KMS::Alias the alias name
    (CloudFormation, "Return values"): an IAM Resource and a log group's KmsKeyId refuse
    both at deployment, so the transform refuses them first."""
    resources = {
        "Key": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {}}},
        "Alias": {
            "Type": "AWS::KMS::Alias",
            "Properties": {"AliasName": "alias/mine", "TargetKeyId": {"Ref": "Key"}},
        },
        "P": processor(Prefix="in/", KmsKeyArn=key, KmsScope="All"),
    }
    with pytest.raises(ExpansionError) as caught:
        expanded(resources)
    message = str(caught.value)
    assert message.startswith("Resource 'P': property 'KmsKeyArn' must be a key ARN")
    assert fix in message and "\n" not in message
    resources["P"] = processor(Prefix="in/", KmsKeyArn={"Fn::GetAtt": ["Key", "Arn"]})
    out = expanded(resources)
    assert out["Resources"]["PTaskRole"]


def readme_key_policy() -> list[dict[str, Any]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Encryption with your key", 1)[1]
    block = section.split("```json\n", 1)[1].split("```", 1)[0]
    statements: list[dict[str, Any]] = json.loads(block)
    return statements


def log_group_arn(logical_id: str, resource: dict[str, Any], stack: str) -> str:
    """The ARN CloudWatch Logs puts in the encryption context: the declared name, or the
    one CloudFormation generates ("<stack>-<logical ID>-<suffix>")."""
    name = resource["Properties"].get("LogGroupName")
    if name is None:
        name = f"{stack}-{logical_id}-ABCDEF123456"
    else:
        name = name["Fn::Sub"].replace("${AWS::StackName}", stack)
    return f"arn:aws:logs:eu-west-1:123456789012:log-group:{name}"


@pytest.mark.parametrize("name", [n for n in cases.success_names() if n.startswith("kms_all")])
def test_the_readme_key_policy_admits_every_log_group_the_key_encrypts(name: str) -> None:
    """A log group whose key policy does not admit CloudWatch Logs for its ARN fails to
    create: each encrypted log group of the KmsScope: All goldens must match a pattern of
    the README's statement, and another stack's must not."""
    [logs] = [s for s in readme_key_policy() if s["Sid"] == "CloudWatchLogsUseOfTheKey"]
    patterns = [
        p.replace("PARTITION", "aws")
        .replace("REGION", "eu-west-1")
        .replace("ACCOUNT", "123456789012")
        .replace("STACK", "media")
        for p in logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    ]
    encrypted = {
        logical_id: r
        for logical_id, r in cases.expected(name)["Resources"].items()
        if r["Type"] == "AWS::Logs::LogGroup" and "KmsKeyId" in r["Properties"]
    }
    assert encrypted
    for logical_id, resource in encrypted.items():
        arn = log_group_arn(logical_id, resource, "media")
        assert any(fnmatch.fnmatchcase(arn, p) for p in patterns), arn
        other = log_group_arn(logical_id, resource, "other")
        assert not any(fnmatch.fnmatchcase(other, p) for p in patterns), other
