"""Template values with their intrinsics resolved against a deployed stack, and the
comparison of a template's literal intent with what the engine's APIs report."""

from __future__ import annotations

import json
import re
from typing import Any

from integration.engine import ACCOUNT, REGION, Engine

PSEUDO = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}


class Unresolved(Exception):
    """An intrinsic this resolver does not evaluate; the value is left uncompared."""


class Resolver:
    def __init__(
        self,
        engine: Engine,
        stack: str,
        template: dict[str, Any],
        parameters: dict[str, Any],
        resources: list[dict[str, Any]],
    ) -> None:
        """``parameters`` as CloudFormation resolves them (the macro's ``parameter_values``:
        defaults applied, list types as lists); ``resources`` the stack's, as listed."""
        self.engine = engine
        self.template = template
        self.parameters = parameters
        self.physical = {r["LogicalResourceId"]: r.get("PhysicalResourceId", "") for r in resources}
        self.pseudo = {**PSEUDO, "AWS::StackName": stack}
        self.attributes: dict[tuple[str, str], str] = {}

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.value(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, argument),) = node.items()
            if key == "Ref":
                return self.ref(argument)
            if key == "Fn::GetAtt":
                logical, _, attribute = (
                    argument.partition(".")
                    if isinstance(argument, str)
                    else (argument[0], "", argument[1])
                )
                return self.get_att(logical, attribute)
            if key == "Fn::Sub":
                return self.sub(argument)
            if key == "Fn::Join":
                return str(argument[0]).join(str(self.value(p)) for p in self.value(argument[1]))
            if key == "Fn::Select":
                return self.value(argument[1])[int(self.value(argument[0]))]
            if key == "Fn::GetAZs":
                return self.zones()
            if key == "Fn::If" or key.startswith("Fn::"):
                raise Unresolved(key)
        return {key: self.value(item) for key, item in node.items()}

    def zones(self) -> list[str]:
        """Fn::GetAZs: the Region's zones, as the engine lists them (in their order)."""
        answer = self.engine.client("ec2").describe_availability_zones()["AvailabilityZones"]
        return [str(zone["ZoneName"]) for zone in answer]

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical:
            return self.physical[name]
        raise Unresolved(f"Ref {name}")

    def get_att(self, logical: str, attribute: str) -> str:
        key = (logical, attribute)
        if key not in self.attributes:
            self.attributes[key] = self._attribute(logical, attribute)
        return self.attributes[key]

    def _attribute(self, logical: str, attribute: str) -> str:
        return str(self._attribute_value(logical, attribute))

    def _attribute_value(self, logical: str, attribute: str) -> Any:
        kind = self.template["Resources"].get(logical, {}).get("Type")
        physical = self.physical.get(logical, "")
        client = self.engine.client
        if kind == "AWS::SQS::Queue" and attribute == "Arn":
            return str(
                client("sqs").get_queue_attributes(QueueUrl=physical, AttributeNames=["QueueArn"])[
                    "Attributes"
                ]["QueueArn"]
            )
        if kind == "AWS::SQS::Queue" and attribute == "QueueUrl":
            return physical
        if kind == "AWS::SQS::Queue" and attribute == "QueueName":
            return physical.rsplit("/", 1)[-1]
        if kind in ("AWS::IAM::Role", "AWS::IAM::ManagedPolicy") and attribute == "Arn":
            if kind == "AWS::IAM::ManagedPolicy":
                return physical
            return str(client("iam").get_role(RoleName=physical)["Role"]["Arn"])
        if kind == "AWS::S3::Bucket" and attribute == "Arn":
            return f"arn:aws:s3:::{physical}"
        if kind == "AWS::ECS::Cluster" and attribute == "Arn":
            return f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{physical}"
        if kind == "AWS::Logs::LogGroup" and attribute == "Arn":
            return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{physical}:*"
        if kind == "AWS::KMS::Key" and attribute == "Arn":
            return str(client("kms").describe_key(KeyId=physical)["KeyMetadata"]["Arn"])
        if kind == "AWS::SNS::Topic" and attribute == "TopicArn":
            return physical
        if kind == "AWS::StepFunctions::StateMachine" and attribute in ("Arn", "Name"):
            return physical if attribute == "Arn" else physical.rsplit(":", 1)[-1]
        if kind == "AWS::Events::Rule" and attribute == "Arn":
            return str(client("events").describe_rule(Name=physical.rsplit("/", 1)[-1])["Arn"])
        if kind == "AWS::EC2::SecurityGroup" and attribute == "GroupId":
            return physical
        raise Unresolved(f"GetAtt {logical}.{attribute}")

    def sub(self, argument: Any) -> str:
        text, variables = (
            (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
        )
        local = {name: self.value(item) for name, item in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in local:
                return str(local[name])
            if "." in name and not name.startswith("AWS::"):
                logical, _, attribute = name.partition(".")
                return self.get_att(logical, attribute)
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)


def subset_problems(expected: Any, actual: Any, path: str) -> list[str]:
    """Where ``actual`` (an API's answer) does not hold ``expected`` (the resolved template
    value): keys match without regard to case (CloudFormation and the APIs spell some
    differently), scalars compare as text (the APIs give numbers as strings, or back),
    and a list must hold the same items, in any order."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            shown = json.dumps(actual, default=str)[:120]
            return [f"{path}: expected an object, the engine has {shown}"]
        lowered = {str(k).lower(): v for k, v in actual.items()}
        problems: list[str] = []
        for key, value in expected.items():
            if str(key).lower() not in lowered:
                problems.append(f"{path}/{key}: missing on the engine")
            else:
                problems += subset_problems(value, lowered[str(key).lower()], f"{path}/{key}")
        return problems
    if isinstance(expected, list):
        actual_list = actual if isinstance(actual, list) else [actual]
        if len(expected) != len(actual_list):
            return [f"{path}: {len(expected)} items expected, the engine has {len(actual_list)}"]
        unmatched = list(actual_list)
        for index, item in enumerate(expected):
            match = next((a for a in unmatched if not subset_problems(item, a, path)), None)
            if match is None:
                return [f"{path}[{index}]: {json.dumps(item, default=str)[:160]} not on the engine"]
            unmatched.remove(match)
        return []
    if isinstance(actual, list) and len(actual) == 1:
        actual = actual[0]
    if _text(expected) != _text(actual):
        return [f"{path}: expected {_text(expected)!r}, the engine has {_text(actual)!r}"]
    return []


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
