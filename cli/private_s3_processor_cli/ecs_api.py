"""The shapes of ECS's answers as AWS documents them, and as Step Functions' ECS
integration reports them: the local flow plays them, ``cost`` counts the transitions
they cause (``transitions.py``) and ``redrive`` re-submits in them. Nothing here needs
the emulator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# ECS's documented reason when Fargate has no capacity (API failure reasons).
CAPACITY_REASON = (
    "Capacity is unavailable at this time. Please try again later or in a different "
    "availability zone"
)
THROTTLED_MESSAGE = "Rate exceeded"


def _rekeyed(node: Any, first: Callable[[str], str]) -> Any:
    """``node`` with ``first`` applied to the first letter of every key, throughout."""
    if isinstance(node, dict):
        return {first(k[:1]) + k[1:]: _rekeyed(v, first) for k, v in node.items()}
    if isinstance(node, list):
        return [_rekeyed(v, first) for v in node]
    return node


def camel(node: Any) -> Any:
    """Step Functions' PascalCase parameters as the ECS API's camelCase."""
    return _rekeyed(node, str.lower)


def camel_to_pascal(node: Any) -> Any:
    """The ECS API's camelCase as Step Functions reports it."""
    return _rekeyed(node, str.upper)


def stopped_task(
    task_arn: str, cluster: str, task_definition: str, exit_code: int | None
) -> dict[str, Any]:
    """What ``runTask.sync`` reports of a stopped task (Step Functions' PascalCase)."""
    container: dict[str, Any] = {"Name": "worker", "LastStatus": "STOPPED", "TaskArn": task_arn}
    if exit_code is not None:
        container["ExitCode"] = exit_code
    return {
        "TaskArn": task_arn,
        "ClusterArn": cluster,
        "TaskDefinitionArn": task_definition,
        "LastStatus": "STOPPED",
        "DesiredStatus": "STOPPED",
        "StopCode": "EssentialContainerExited",
        "StoppedReason": "Essential container in task exited",
        "Containers": [container],
    }
