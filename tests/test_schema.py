"""The registry schema: cfn-lint reports what the transform would refuse, before expansion.

cfn-lint runs once, as a user runs it (``--registry-schemas`` with the generated schema,
``--append-rules cfn-lint-rules``), over every golden input, the example and a few
templates written here; the tests then read its findings on the processors' properties.
"""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Annotated, Any

import pytest
from cfnlint.decode import decode
from private_s3_processor.properties import NetworkSettings, Properties
from private_s3_processor.property_docs import known_fields
from private_s3_processor.references import ATTRIBUTES
from private_s3_processor.rules import CPU_MEMORY, TYPE_NAME
from private_s3_processor.schema import _constraints, _type_of, registry_schema
from pydantic import AfterValidator
from pydantic.fields import FieldInfo

import template as templates
from tests.conftest import ROOT, tool
from tests.golden import cases

RULES = ROOT / "cfn-lint-rules"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker:1.0"

# Reviewed: each error case a schema can express -> what cfn-lint reports on the
# processors' properties, as (rule, line of the offending property). A missing property
# is reported on the `Properties:` line (or the resource's, when there is none).
EXPECTED: dict[str, set[tuple[str, int]]] = {
    "error_bad_choices": {
        ("E3030", 6),  # Mode: Debug
        ("E3030", 7),  # Architecture: arm64
        ("E3030", 8),  # Endpoints: None
        ("E3030", 9),  # Cpu: 300
        ("E3030", 10),  # LogRetentionInDays: 10
    },
    "error_bad_values": {
        ("E3031", 6),  # BucketName: Invalid_Bucket
        ("E3031", 7),  # KmsKeyArn: alias/my-key
        ("E3031", 8),  # AllowedPrincipalArns: [someone]
        ("E3033", 9),  # OutputPrefix: ""
        ("E9301", 11),  # Tags "aws:owner" (a `not` in the schema: no cfn-lint rule of its own)
    },
    "error_cpu_memory": {("E3030", 7)},  # Memory 300 with Cpu 256
    "error_queued_other_delivery": {
        ("E9301", 9),  # MaxTasks with the default Delivery (Direct)
        ("E9301", 10),  # Concurrency with the default Delivery
        ("E9301", 17),  # IdleSeconds with Delivery: Orchestrated
        ("E9301", 18),  # MaxReceiveCount with Delivery: Orchestrated
        ("E9301", 19),  # VisibilityTimeoutSeconds with Delivery: Orchestrated
    },
    "error_queued_out_of_range": {
        ("E3034", 9),  # MaxTasks: 1001
        ("E3034", 10),  # Concurrency: 0
        ("E9301", 11),  # IdleSeconds: 90, not whole minutes (multipleOf)
        ("E3034", 12),  # MaxReceiveCount: 1001
        ("E3034", 13),  # VisibilityTimeoutSeconds: 43201
        ("E3034", 20),  # MaxTasks: 0
        ("E3034", 21),  # Concurrency: 65
        ("E3034", 22),  # IdleSeconds: 3660
        ("E3034", 23),  # MaxReceiveCount: 0
        ("E3012", 24),  # VisibilityTimeoutSeconds: true
    },
    "error_cpu_memory_steps": {("E3030", 7)},  # Memory 4096 with Cpu 4096
    "error_missing_image": {("E3003", 4)},
    "error_network_mixed": {
        ("E3003", 6),  # EndpointSecurityGroupId required: CreateEndpoints is false
        ("E3021", 6),  # SubnetIds required with VpcId
        ("E3020", 8),  # VpcCidr with VpcId
        ("E3021", 14),  # RouteTableIds without VpcId
        ("E3002", 16),  # Subnets (did you mean SubnetIds?)
    },
    "error_non_ecr_image": {("E3031", 5)},
    "error_out_of_range": {
        ("E3034", 6),  # EphemeralStorageGiB: 500
        ("E3034", 7),  # RetryAttempts: 186
        ("E3034", 8),  # MaximumEventAgeInSeconds: 30
        ("E3034", 10),  # Network.AvailabilityZones: 4
        ("E3031", 11),  # Network.VpcCidr: 10.0.0.0/8
    },
    "error_properties_not_a_map": {
        ("E3012", 4),  # Properties: [Image]
        ("E3003", 5),  # Bad1 has no Properties, so no Image
    },
    "error_reserved_environment": {("E9301", 7)},  # S3_KEY
    "error_self_trigger_no_filter": {("E3003", 4)},  # OutputPrefix needs a non-empty Prefix
    "error_tags_and_bucket_names": {
        ("E3031", 8),  # tag key "team<x>"
        ("E9301", 13),  # 192.168.5.4
        ("E9301", 18),  # sthree-
        ("E9301", 23),  # amzn-s3-demo-
        ("E9301", 28),  # -s3alias
        ("E9301", 33),  # --ol-s3
        ("E9301", 38),  # --x-s3
    },
    "error_unknown_property": {("E3002", 6)},  # Sufix
    "error_unresolvable_intrinsic": {
        ("E3012", 8),  # Prefix: !GetAtt (only a Ref to a parameter can be resolved)
        ("E3012", 9),  # Suffix: !Sub
    },
    "error_wrong_types": {
        ("E3012", 5),  # Image: a list
        ("E3012", 7),  # Cpu: lots
        ("E3030", 7),  # ... which is no Fargate CPU either
        ("E3012", 8),  # Environment: a list
        ("E3012", 9),  # Command: a string
        ("E3012", 10),  # RestrictToVpcEndpoint: maybe
        # Not `Prefix: 5`: cfn-lint reads a scalar as a string, as CloudFormation does for
        # its own types; the transform receives the number and refuses it.
    },
}

# Error cases a registry schema cannot express, and why. cfn-lint must report nothing on
# their processors' properties (if it starts to, the case moves to EXPECTED).
NOT_EXPRESSIBLE = {
    "error_alarm_topic_aws_managed_key": "the key of another resource (the SNS topic) decides",
    "error_collision": "a generated logical ID clashes with another resource (whole template)",
    "error_create_endpoints_parameter": "CreateEndpoints is a Ref: cfn-lint does not resolve "
    "it inside the schema's if/then, so the rule that needs its value is skipped",
    "error_description_too_long": "a limit of a generated resource (the ID's length decides)",
    "error_logical_id_too_long": "a limit of the generated logical IDs, not of a property",
    "error_missing_parameter": "the parameter's value is known at deploy time only",
    "error_mode_attributes": "a GetAtt attribute that the processor's Delivery does not offer",
    "error_network_mismatch": "two processors sharing the created network disagree",
    "error_no_resources": "a template without resources has no properties to check",
    "error_policy_size": "a limit of the generated IAM policy (how the prefixes expand)",
    "error_processor_collisions": "processor IDs clash with generated or shared IDs",
    "error_resource_attributes": "resource attributes, not properties (cfn-lint's own E3001 "
    "and E3035 report DependOn and Snapshot; Condition is valid CloudFormation)",
    "error_self_trigger": "OutputPrefix and Prefix are prefixes of one another (compares two "
    "values)",
    "error_shared_collision": "a parameter named like a shared generated resource",
    "error_template_size": "a limit of the processed template's size",
    "error_too_many_resources": "a limit of the processed template's resource count",
    "error_unknown_attribute": "GetAtt attributes: cfn-lint skips them for registry types too",
    "error_wildcard_complexity": "EventBridge's matcher complexity of the generated pattern",
    "error_wildcard_explosion": "the generated event pattern's size and complexity",
    "error_wildcard_rules": "wildcard rules counted over all processors",
}

# Templates written here: what the schema says about intrinsics (a Ref to a parameter in
# a property the transform must know, any intrinsic where it passes them through).
ACCEPTED_INTRINSICS = f"""
Parameters:
  Cpu: {{Type: Number, Default: 512}}
  Memory: {{Type: Number, Default: 1024}}
  Prefix: {{Type: String, Default: in/}}
  Create: {{Type: String, AllowedValues: ["true", "false"], Default: "true"}}
  Uploaders: {{Type: CommaDelimitedList, Default: "arn:aws:iam::123456789012:role/u"}}
Resources:
  Topic:
    Type: AWS::SNS::Topic
  Key:
    Type: AWS::KMS::Key
    Properties:
      KeyPolicy: {{Version: "2012-10-17", Statement: []}}
  Known:
    Type: {TYPE_NAME}
    Properties:
      Image: !Sub "${{AWS::AccountId}}.dkr.ecr.${{AWS::Region}}.amazonaws.com/worker:1"
      Cpu: !Ref Cpu
      Memory: !Ref Memory
      Prefix: !Ref Prefix
      Suffix: !Ref AWS::Region
      KmsKeyArn: !GetAtt Key.Arn
      AlarmTopicArn: !Ref Topic
      AllowedPrincipalArns: !Ref Uploaders
      BucketName: !Join ["-", [uploads, !Ref AWS::AccountId]]
      Environment: {{TOPIC: !Ref Topic, NAME: !Sub "${{AWS::StackName}}"}}
      Tags: {{team: !Ref AWS::StackName, "Name with spaces": "a+b=c.d_e:f/g@h"}}
  Existing:
    Type: {TYPE_NAME}
    Properties:
      Image: public.ecr.aws/docker/library/python:3.13
      Network:
        VpcId: !ImportValue vpc
        SubnetIds: !Split [",", !ImportValue subnets]
        RouteTableIds: [!ImportValue rtb]
        CreateEndpoints: !Ref Create
"""
REFUSED_INTRINSICS = f"""
Resources:
  Topic:
    Type: AWS::SNS::Topic
  Refused:
    Type: {TYPE_NAME}
    Properties:
      Image: {IMAGE}
      Mode: !Ref Topic
      Cpu: !Sub "512"
      Prefix: !Join ["", [a, b]]
      RuleArn: arn:aws:events:eu-west-1:123456789012:rule/x
"""
REFUSED_FINDINGS = {
    ("E1020", 9),  # Mode: a Ref to a resource, not to a parameter
    ("E3012", 10),  # Cpu: Fn::Sub
    ("E3030", 10),  # ... which is no Fargate CPU either
    ("E3012", 11),  # Prefix: Fn::Join
    ("E3002", 12),  # RuleArn is an attribute (GetAtt), not a property
}

# Rules that validate properties against a schema; a finding of another (a YAML alias,
# a redundant DependsOn) is about the template, not about what the schema says.
_SCHEMA_RULES = ("E1", "E3", "W1030", "E9301")


def _processors(path: Path) -> set[str]:
    template, _ = decode(str(path))
    resources = (template or {}).get("Resources") or {}
    return {
        name
        for name, resource in resources.items()
        if isinstance(resource, dict) and resource.get("Type") == TYPE_NAME
    }


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[tuple[str, int]]]:
    """(rule, line) of every finding on a processor's properties, by file stem."""
    out = tmp_path_factory.mktemp("lint")
    schemas = out / "schemas"
    schemas.mkdir()
    (schemas / "privates3processor.json").write_text(json.dumps(registry_schema()))
    (out / "example.yaml").write_text(templates.render()["example.yaml"], encoding="utf-8")
    (out / "accepted_intrinsics.yaml").write_text(ACCEPTED_INTRINSICS, encoding="utf-8")
    (out / "refused_intrinsics.yaml").write_text(REFUSED_INTRINSICS, encoding="utf-8")
    files = sorted(cases.INPUT.glob("*.yaml")) + sorted(out.glob("*.yaml"))
    # As a user runs it; `--` ends --registry-schemas' list of folders.
    command = [tool("cfn-lint"), "--format", "json", "--registry-schemas", str(schemas)]
    command += ["--append-rules", str(RULES), "--", *map(str, files)]
    run = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
    )
    assert not run.returncode & 1, run.stderr  # 2, 4, 8: errors, warnings, notes found
    matches = json.loads(run.stdout)
    # E0002: a rule raised (the rule in cfn-lint-rules/ included).
    assert not [m for m in matches if m["Rule"]["Id"] == "E0002"]
    processors = {Path(f).stem: _processors(f) for f in files}
    found: dict[str, set[tuple[str, int]]] = defaultdict(set)
    for match in matches:
        stem = Path(match["Filename"]).stem
        where = match["Location"]["Path"] or []
        rule = match["Rule"]["Id"]
        if (
            len(where) >= 3
            and where[0] == "Resources"
            and where[1] in processors[stem]
            and where[2] == "Properties"
            and rule.startswith(_SCHEMA_RULES)
        ):
            found[stem].add((rule, match["Location"]["Start"]["LineNumber"]))
    return found


def test_every_error_case_is_classified() -> None:
    assert not set(EXPECTED) & set(NOT_EXPRESSIBLE)
    assert set(EXPECTED) | set(NOT_EXPRESSIBLE) == set(cases.error_names())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_cfn_lint_reports_each_expressible_error_at_its_line(
    name: str, findings: dict[str, set[tuple[str, int]]]
) -> None:
    assert findings[name] == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(NOT_EXPRESSIBLE))
def test_errors_a_schema_cannot_express_get_no_schema_finding(
    name: str, findings: dict[str, set[tuple[str, int]]]
) -> None:
    assert findings[name] == set()


@pytest.mark.parametrize("name", [*cases.success_names(), "example", "accepted_intrinsics"])
def test_valid_processors_get_no_finding(
    name: str, findings: dict[str, set[tuple[str, int]]]
) -> None:
    assert findings[name] == set()


def test_intrinsics_the_transform_cannot_resolve_are_reported(
    findings: dict[str, set[tuple[str, int]]],
) -> None:
    assert findings["refused_intrinsics"] == REFUSED_FINDINGS


def _property(schema: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = schema["properties"][name]
    return found


def test_the_schema_follows_the_declaration() -> None:
    schema = registry_schema()
    assert schema["typeName"] == TYPE_NAME
    assert schema["required"] == ["Image"]
    network = schema["definitions"][NetworkSettings.__name__]
    assert set(network["properties"]) == set(NetworkSettings.model_fields)
    assert "cfnContext" in network["properties"]["AvailabilityZones"]
    assert "cfnContext" not in network["properties"]["VpcId"]
    known = set(known_fields(Properties))
    for name in Properties.model_fields:
        prop = _property(schema, name)
        # A property the transform must know takes a literal or a Ref to a parameter only
        # (Network: each of its settings says for itself).
        assert ("cfnContext" in prop) == (name in known - {"Network"}), name
    cpu = _property(schema, "Cpu")["cfnContext"]
    assert cpu["functions"] == ["Ref"] and cpu["references"] == ["Parameters"]
    assert cpu["schema"]["enum"] == list(CPU_MEMORY)
    storage = _property(schema, "EphemeralStorageGiB")["cfnContext"]["schema"]
    assert (storage["minimum"], storage["maximum"]) == (21, 200)
    # Attributes are read-only properties; BucketName is an attribute and a property.
    read_only = {p.removeprefix("/properties/") for p in schema["readOnlyProperties"]}
    assert read_only == set(ATTRIBUTES) - set(Properties.model_fields)
    assert "BucketName" in ATTRIBUTES and "pattern" in _property(schema, "BucketName")


def test_an_unknown_type_or_validator_is_an_error_not_a_silent_gap() -> None:
    with pytest.raises(TypeError, match="no JSON Schema"):
        _type_of(float)
    with pytest.raises(TypeError, match="no JSON Schema"):
        _type_of(int | str)

    def odd(value: int) -> int:
        return value

    field = FieldInfo.from_annotation(Annotated[int, AfterValidator(odd)])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="odd"):
        _constraints(field)
