"""Stand-ins for the three ECS resource types the engine's community runtime lacks.

Without a provider, the engine deploys an unknown type as a placeholder whose ``Ref`` and
``Fn::GetAtt`` resolve to "unknown", and EventBridge's ``PutTargets`` then refuses the
rule's ECS target ("Unsupported target"): no ``Delivery: Direct`` stack could deploy.
These providers create nothing. They keep the properties they were given and answer with
the identifiers ECS itself would return, in the forms the ECS resource reference
documents (Ref of a cluster is its name; of a task definition and a service, the ARN), so
everything that refers to them (rule targets, state machine definitions, roles) deploys
and can be checked. Nothing here runs a task.
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

from localstack.services.cloudformation.provider_utils import generate_default_name
from localstack.services.cloudformation.resource_provider import (
    CloudFormationResourceProviderPlugin,
    OperationStatus,
    ProgressEvent,
    ResourceProvider,
    ResourceRequest,
)

_REVISIONS = itertools.count(1)


def _arn(request: ResourceRequest[Any], resource: str) -> str:
    return f"arn:aws:ecs:{request.region_name}:{request.account_id}:{resource}"


class _StandIn(ResourceProvider[dict[str, Any]]):
    def _complete(self, request: ResourceRequest[dict[str, Any]]) -> None:
        raise NotImplementedError

    def create(self, request: ResourceRequest[dict[str, Any]]) -> ProgressEvent[dict[str, Any]]:
        self._complete(request)
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=request.desired_state)

    def read(self, request: ResourceRequest[dict[str, Any]]) -> ProgressEvent[dict[str, Any]]:
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=request.desired_state)

    def update(self, request: ResourceRequest[dict[str, Any]]) -> ProgressEvent[dict[str, Any]]:
        return self.create(request)

    def delete(self, request: ResourceRequest[dict[str, Any]]) -> ProgressEvent[dict[str, Any]]:
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=request.desired_state)


class Cluster(_StandIn):
    TYPE = "AWS::ECS::Cluster"
    SCHEMA: ClassVar[dict[str, Any]] = {
        "typeName": TYPE,
        "primaryIdentifier": ["/properties/ClusterName"],
    }

    def _complete(self, request: ResourceRequest[dict[str, Any]]) -> None:
        model = request.desired_state
        model.setdefault(
            "ClusterName", generate_default_name(request.stack_name, request.logical_resource_id)
        )
        model["Arn"] = _arn(request, f"cluster/{model['ClusterName']}")


class TaskDefinition(_StandIn):
    TYPE = "AWS::ECS::TaskDefinition"
    SCHEMA: ClassVar[dict[str, Any]] = {
        "typeName": TYPE,
        "primaryIdentifier": ["/properties/TaskDefinitionArn"],
    }

    def _complete(self, request: ResourceRequest[dict[str, Any]]) -> None:
        model = request.desired_state
        family = model.get("Family") or generate_default_name(
            request.stack_name, request.logical_resource_id
        )
        model["TaskDefinitionArn"] = _arn(request, f"task-definition/{family}:{next(_REVISIONS)}")


class Service(_StandIn):
    TYPE = "AWS::ECS::Service"
    SCHEMA: ClassVar[dict[str, Any]] = {
        "typeName": TYPE,
        "primaryIdentifier": ["/properties/ServiceArn"],
    }

    def _complete(self, request: ResourceRequest[dict[str, Any]]) -> None:
        model = request.desired_state
        model.setdefault(
            "ServiceName", generate_default_name(request.stack_name, request.logical_resource_id)
        )
        cluster = str(model.get("Cluster") or "default").rpartition("/")[2]
        model["ServiceArn"] = _arn(request, f"service/{cluster}/{model['ServiceName']}")
        model["Name"] = model["ServiceName"]


def _plugin(provider: type[_StandIn]) -> type[CloudFormationResourceProviderPlugin]:
    class Plugin(CloudFormationResourceProviderPlugin):
        name = provider.TYPE

        def __init__(self) -> None:
            self.factory: type[ResourceProvider[Any]] | None = None

        def load(self) -> None:
            self.factory = provider

    Plugin.__name__ = f"{provider.__name__}Plugin"
    return Plugin


ClusterPlugin = _plugin(Cluster)
TaskDefinitionPlugin = _plugin(TaskDefinition)
ServicePlugin = _plugin(Service)
