"""Rewriting ``Ref``, ``Fn::GetAtt``, ``Fn::Sub`` and ``DependsOn`` that name a processor.

A processor's logical ID disappears from the output; every reference to it is
pointed at the generated resource that carries the meaning: ``!Ref Invoices`` is
the bucket name, ``!GetAtt Invoices.RuleArn`` the rule's ARN, and so on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .cfn import Target
from .delivery import MODES, DeliveryMode
from .errors import did_you_mean, shown
from .names import CLUSTER, ProcessorIds

__all__ = ["ATTRIBUTES", "MODE_ATTRIBUTES", "Rewriter", "Target", "attribute_targets", "referenced"]


def attribute_targets(
    processor: str, vpc: Any, mode: DeliveryMode | None = None
) -> dict[str, Target]:
    """Every ``!GetAtt <processor>.<Attr>`` the transform offers: the common ones, then
    those of the processor's delivery ``mode`` (of every mode when None)."""
    ids = ProcessorIds(processor)
    vpc_target = (
        Target(vpc["Ref"]) if isinstance(vpc, dict) and set(vpc) == {"Ref"} else Target(value=vpc)
    )
    every = {
        "BucketName": Target(ids.bucket),
        "BucketArn": Target(ids.bucket, "Arn"),
        "ClusterArn": Target(CLUSTER, "Arn"),
        "TaskDefinitionArn": Target(ids.task_definition),
        "RuleArn": Target(ids.rule, "Arn"),
        "DeadLetterQueueUrl": Target(ids.dead_letter_queue),
        "DeadLetterQueueArn": Target(ids.dead_letter_queue, "Arn"),
        "LogGroupName": Target(ids.log_group),
        "TaskRoleArn": Target(ids.task_role, "Arn"),
        "ExecutionRoleArn": Target(ids.execution_role, "Arn"),
        "TaskSecurityGroupId": Target(ids.task_security_group, "GroupId"),
        "VpcId": vpc_target,
    }
    for m in MODES.values() if mode is None else (mode,):
        every.update(m.attributes(ids))
    return every


def _modes_offering() -> dict[str, tuple[str, ...]]:
    """Attributes of delivery modes -> the modes that offer them."""
    offering: dict[str, list[str]] = {}
    for name, mode in MODES.items():
        for attribute in mode.attributes(ProcessorIds("X")):
            offering.setdefault(attribute, []).append(name)
    return {attribute: tuple(names) for attribute, names in offering.items()}


# Attributes that exist only with some values of Delivery, and those values.
MODE_ATTRIBUTES = _modes_offering()
ATTRIBUTES = tuple(attribute_targets("X", {"Ref": "V"}))

_SUB_VAR = re.compile(r"\$\{([^}!][^}]*)\}")


class Rewriter:
    """Rewrites references to processors anywhere in a template fragment.

    ``targets`` maps each processor to its attributes; ``members`` maps it to all
    the resources it expanded into (for ``DependsOn``). Problems (an unknown
    attribute) are collected in ``errors`` rather than raised.
    """

    def __init__(
        self,
        targets: Mapping[str, Mapping[str, Target]],
        members: Mapping[str, list[str]],
        modes: Mapping[str, str] | None = None,
    ) -> None:
        self.targets = targets
        self.members = members
        # Processor -> its Delivery value, for the error naming the mode it uses.
        self.modes = modes or {}
        self.errors: list[str] = []

    def depends_on(self, value: Any, body: Any, generated: bool) -> Any:
        """``DependsOn`` with processors replaced by their resources. Names the resource
        already references are dropped where the expansion put them (a generated
        resource, or a processor's members), as CloudFormation orders those anyway."""
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            return value
        implied = referenced(body)
        out: list[Any] = []
        for item in value:
            expanded = isinstance(item, str) and item in self.members
            names = self.members[item] if expanded else [item]
            for name in names:
                if (generated or expanded) and name in implied:
                    continue
                if name not in out:
                    out.append(name)
        if not out:
            return None
        return out[0] if len(out) == 1 else out

    def rewrite(self, node: Any, where: str) -> Any:
        if isinstance(node, list):
            return [self.rewrite(item, where) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref" and isinstance(arg, str) and arg in self.targets:
                return Target(ProcessorIds(arg).bucket).as_intrinsic()
            if key == "Fn::GetAtt":
                return self._get_att(arg, where)
            if key == "Fn::Sub":
                return self._sub(arg, where)
        return {k: self.rewrite(v, where) for k, v in node.items()}

    def _attribute(self, processor: str, attribute: Any, where: str) -> Target | None:
        offered = self.targets[processor]
        if isinstance(attribute, str) and attribute in offered:
            return offered[attribute]
        if isinstance(attribute, str) and attribute in MODE_ATTRIBUTES:
            uses = self.modes.get(processor)
            self.errors.append(
                f"{where}: Fn::GetAtt {processor}.{attribute} exists only with Delivery: "
                f"{' or '.join(MODE_ATTRIBUTES[attribute])} (processor '{processor}' uses "
                f"{'Delivery: ' + uses if uses else 'another mode'})"
            )
            return None
        self.errors.append(
            f"{where}: Fn::GetAtt {processor}.{shown(attribute).strip(chr(34))} is not an "
            f"attribute of a PrivateS3Processor{did_you_mean(str(attribute), offered)}; "
            f"available: {', '.join(offered)}"
        )
        return None

    def _get_att(self, arg: Any, where: str) -> Any:
        if isinstance(arg, str) and "." in arg:
            arg = arg.split(".", 1)
        if (
            isinstance(arg, list)
            and len(arg) == 2
            and isinstance(arg[0], str)
            and arg[0] in self.targets
        ):
            target = self._attribute(arg[0], arg[1], where)
            if target is None:
                return {"Fn::GetAtt": arg}
            return target.as_intrinsic()
        return {"Fn::GetAtt": self.rewrite(arg, where)}

    def _sub(self, arg: Any, where: str) -> Any:
        if isinstance(arg, str):
            text, variables = arg, {}
        elif isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str):
            text, variables = arg[0], self.rewrite(arg[1], where)
        else:
            return {"Fn::Sub": self.rewrite(arg, where)}
        extra: dict[str, Any] = {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if isinstance(variables, dict) and name in variables:
                return match.group(0)
            head, _, attribute = name.partition(".")
            if head not in self.targets:
                return match.group(0)
            target = (
                Target(ProcessorIds(head).bucket)
                if not attribute
                else self._attribute(head, attribute, where)
            )
            if target is None:
                return match.group(0)
            if target.value is None:
                inner = target.logical_id + (f".{target.attribute}" if target.attribute else "")
                return "${" + inner + "}"
            # A value with no logical ID (an existing VPC given as an intrinsic) goes
            # into the Sub's variable map under a name of its own.
            var = f"{head}{attribute}"
            extra[var] = target.value
            return "${" + var + "}"

        new_text = _SUB_VAR.sub(replace, text)
        if not extra and isinstance(arg, str):
            return {"Fn::Sub": new_text}
        merged = {**(variables if isinstance(variables, dict) else {}), **extra}
        return {"Fn::Sub": [new_text, merged]}


def referenced(node: Any) -> set[str]:
    """Logical IDs a fragment names through Ref, Fn::GetAtt or Fn::Sub."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= referenced(item)
    elif isinstance(node, dict):
        for key, arg in node.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                head = (
                    arg.split(".", 1)[0]
                    if isinstance(arg, str)
                    else (arg[0] if isinstance(arg, list) and arg else None)
                )
                if isinstance(head, str):
                    found.add(head)
            elif key == "Fn::Sub":
                text = (
                    arg
                    if isinstance(arg, str)
                    else (arg[0] if isinstance(arg, list) and arg else "")
                )
                if isinstance(text, str):
                    found |= {m.split(".", 1)[0] for m in _SUB_VAR.findall(text)}
            found |= referenced(arg)
    return found
