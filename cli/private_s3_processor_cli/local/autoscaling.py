"""A Queued processor's scaling in the emulator: created as the template writes it, then
read back.

moto 5.2's CloudFormation skips ``AWS::ApplicationAutoScaling::ScalableTarget``,
``AWS::ApplicationAutoScaling::ScalingPolicy`` and ``AWS::CloudWatch::Alarm`` (it warns
"not supported by moto's CloudFormation implementation" and creates nothing), so
``scaling_as_written`` makes them with the Application Auto Scaling and CloudWatch APIs
from the template's own properties, its intrinsics resolved to the stack's physical IDs,
like ``stack.py``'s work-arounds. The scaler (``scaling.Scaler``) is then built from
what DescribeScalableTargets, DescribeScalingPolicies and DescribeAlarms answer: the
local flow applies the scaling as deployed, never its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ..scaling import Scaler
from ..templates import DEFAULT_ACCOUNT
from .emulator import REGION
from .model import LocalError
from .stack import rule_name

TARGET = "AWS::ApplicationAutoScaling::ScalableTarget"
POLICY = "AWS::ApplicationAutoScaling::ScalingPolicy"
ALARM = "AWS::CloudWatch::Alarm"
# PutMetricAlarm's parameters, as CloudFormation names them, and their types.
_ALARM_NUMBERS: dict[str, Callable[[Any], Any]] = {
    "EvaluationPeriods": int,
    "DatapointsToAlarm": int,
    "Period": int,
    "Threshold": float,
}
_ALARM_FIELDS = (
    "AlarmDescription",
    "ActionsEnabled",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    "MetricName",
    "Namespace",
    "Statistic",
    "ExtendedStatistic",
    "Dimensions",
    "Unit",
    "ComparisonOperator",
    "TreatMissingData",
    "EvaluateLowSampleCountPercentile",
    "Metrics",
    "ThresholdMetricId",
)


class Resolver:
    """Ref, Fn::GetAtt, Fn::Sub and Fn::Join as CloudFormation resolved them in the
    emulator (the documented return values of each resource type used here)."""

    def __init__(
        self,
        aws: Mapping[str, Any],
        template: Mapping[str, Any],
        physical: Mapping[str, str],
        values: Mapping[str, Any],
    ) -> None:
        self.aws, self.resources, self.physical = aws, template["Resources"], physical
        self.refs: dict[str, Any] = {
            "AWS::Region": REGION,
            "AWS::AccountId": DEFAULT_ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            **values,
        }

    def ref(self, name: str) -> Any:
        if name in self.refs:
            return self.refs[name]
        kind, found = self.resources.get(name, {}).get("Type"), self.physical.get(name)
        if found is None:
            raise LocalError(f"the local flow cannot resolve Ref {name}")
        if kind == "AWS::Events::Rule":
            return rule_name(found)  # Ref of a rule is its name
        return found  # a queue's URL, a service's ARN, a cluster's name: as moto answers

    def get_att(self, name: str, attribute: str) -> Any:
        kind, found = self.resources.get(name, {}).get("Type"), self.physical.get(name, "")
        if kind == "AWS::SQS::Queue":
            if attribute == "QueueName":
                return found.rsplit("/", 1)[-1]
            if attribute == "QueueUrl":
                return found
            answer = self.aws["sqs"].get_queue_attributes(QueueUrl=found, AttributeNames=["All"])
            return answer["Attributes"]["QueueArn"]
        if kind == "AWS::ECS::Service" and attribute == "Name":
            return found.rsplit("/", 1)[-1]
        if kind == "AWS::Events::Rule" and attribute == "Arn":
            return self.aws["events"].describe_rule(Name=rule_name(found))["Arn"]
        if found:
            return found  # Arn attributes of resources whose physical ID is their ARN
        raise LocalError(f"the local flow cannot resolve Fn::GetAtt {name}.{attribute}")

    def __call__(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self(item) for item in node]
        if not isinstance(node, dict):
            return node
        if set(node) == {"Ref"}:
            return self.ref(node["Ref"])
        if set(node) == {"Fn::GetAtt"}:
            name, attribute = (
                node["Fn::GetAtt"].split(".", 1)
                if isinstance(node["Fn::GetAtt"], str)
                else node["Fn::GetAtt"]
            )
            return self.get_att(name, attribute)
        if set(node) == {"Fn::Join"}:
            separator, items = node["Fn::Join"]
            return str(separator).join(str(v) for v in self(items))
        if set(node) == {"Fn::Sub"}:
            text, local = (
                (node["Fn::Sub"], {})
                if isinstance(node["Fn::Sub"], str)
                else (node["Fn::Sub"][0], self(node["Fn::Sub"][1]))
            )
            return re.sub(r"\$\{([^}!]+)\}", lambda m: str(self._variable(m[1], local)), text)
        return {key: self(value) for key, value in node.items()}

    def _variable(self, name: str, local: Mapping[str, Any]) -> Any:
        if name in local:
            return local[name]
        if "." in name and not name.startswith("AWS::"):
            return self.get_att(*name.split(".", 1))
        return self.ref(name)


def scaling_as_written(
    aws: Mapping[str, Any],
    template: Mapping[str, Any],
    physical: Mapping[str, str],
    values: Mapping[str, Any],
    service_logical_id: str,
) -> Scaler:
    """Create the scalable target of the service ``service_logical_id``, the scaling
    policies on it and the alarms acting on those policies, with the APIs, as the
    template writes them; return the scaler built from what the emulator describes."""
    resolve = Resolver(aws, template, physical, values)
    service_name = resolve.get_att(service_logical_id, "Name")
    resources = template["Resources"]
    aas, cloudwatch = aws["application-autoscaling"], aws["cloudwatch"]
    target_refs: dict[str, dict[str, Any]] = {}
    for logical, resource in resources.items():
        if resource["Type"] != TARGET:
            continue
        props = resolve(resource["Properties"])
        if str(props["ResourceId"]).rsplit("/", 1)[-1] != service_name:
            continue
        key = {k: props[k] for k in ("ServiceNamespace", "ResourceId", "ScalableDimension")}
        aas.register_scalable_target(
            **key, MinCapacity=int(props["MinCapacity"]), MaxCapacity=int(props["MaxCapacity"])
        )
        # Ref of a scalable target: "resource-id|scalable-dimension|service-namespace".
        ref = f"{key['ResourceId']}|{key['ScalableDimension']}|{key['ServiceNamespace']}"
        resolve.refs[logical] = ref
        target_refs[ref] = key
    if len(target_refs) != 1:
        raise LocalError(
            f"service {service_logical_id}: {len(target_refs)} scalable targets in the "
            "template; the local flow scales a service with exactly one"
        )
    ((ref, key),) = target_refs.items()
    policies = []
    for logical, resource in resources.items():
        if resource["Type"] != POLICY:
            continue
        props = resolve(resource["Properties"])
        if (
            props.get("ScalingTargetId", ref) != ref
            or props.get("ResourceId", key["ResourceId"]) != key["ResourceId"]
        ):
            continue
        config = {
            k: props[k]
            for k in ("StepScalingPolicyConfiguration", "TargetTrackingScalingPolicyConfiguration")
            if k in props
        }
        answer = aas.put_scaling_policy(
            PolicyName=props.get("PolicyName", logical),
            PolicyType=props["PolicyType"],
            **key,
            **config,
        )
        resolve.refs[logical] = answer["PolicyARN"]
        policies.append(answer["PolicyARN"])
    names = []
    for logical, resource in resources.items():
        if resource["Type"] != ALARM:
            continue
        actions = resource["Properties"].get("AlarmActions", [])
        if not any(
            isinstance(a, dict) and resolve.refs.get(str(a.get("Ref"))) in policies for a in actions
        ):
            continue  # an alarm on something else (AlarmTopicArn's)
        props = resolve(resource["Properties"])
        # CloudFormation names an alarm without AlarmName after the stack and its ID.
        name = str(props.get("AlarmName", f"{resolve.ref('AWS::StackName')}-{logical}"))
        request = {k: props[k] for k in _ALARM_FIELDS if k in props}
        request |= {k: cast(props[k]) for k, cast in _ALARM_NUMBERS.items() if k in props}
        cloudwatch.put_metric_alarm(AlarmName=name, **request)
        names.append(name)
    return Scaler.from_described(
        aas.describe_scalable_targets(
            ServiceNamespace=key["ServiceNamespace"], ResourceIds=[key["ResourceId"]]
        )["ScalableTargets"][0],
        aas.describe_scaling_policies(
            ServiceNamespace=key["ServiceNamespace"], ResourceId=key["ResourceId"]
        )["ScalingPolicies"],
        cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"] if names else [],
    )
