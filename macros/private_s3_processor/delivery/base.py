"""What a delivery mode answers: how an upload's event gets from the rule to the task.

Every processor has the same bucket, task, rule and dead-letter queue; its ``Delivery``
decides what stands between the rule and the task. The driver (``expand.py``) and the
references (``references.py``) ask the processor's mode these questions and never
branch on its name, so a new mode is one module in this package and its entry in the
registry (``delivery/__init__.py``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from troposphere import AWSObject, events

from ..access import InlinePolicy
from ..cfn import Target
from ..names import ProcessorIds
from ..network import NetworkRefs
from ..spec import Processor
from ..task import Container

# What every processor has whatever its mode, in a created network and without
# AlarmTopicArn: the bucket and its policy, the task's log group, task role, execution
# role, task definition and security group, the rule, and the dead-letter queue and its
# policy (expand.py lists them). The events role comes with the modes whose rule needs one.
COMMON_RESOURCES = 10


class DeliveryMode(ABC):
    """One value of the ``Delivery`` property. Instances are stateless."""

    # The ``Delivery`` value that selects this mode.
    name: ClassVar[str]
    # How many resources :meth:`resources` adds for one processor. The scale test and
    # bench/transform.py's scale search read it; the scale test checks it against an
    # expansion.
    own_resources: ClassVar[int]
    # Whether the rule delivers with a role of its own (the events role, whose policy is
    # rule_permissions). An SQS target is authorised by the queue's policy instead.
    events_role: ClassVar[bool] = True
    # Interface endpoints the mode's tasks need whatever the processor's Endpoints set
    # (network.py adds them to the processor's network).
    interface_endpoints: ClassVar[tuple[str, ...]] = ()

    @property
    def resources_per_processor(self) -> int:
        """Resources of one processor in a created network, without AlarmTopicArn."""
        return COMMON_RESOURCES + int(self.events_role) + self.own_resources

    @abstractmethod
    def target(self, p: Processor, net: NetworkRefs) -> events.Target:
        """The rule's one target. The rule adds its retry policy and dead-letter queue,
        the same in every mode (trigger.py)."""

    @abstractmethod
    def rule_permissions(self, p: Processor) -> InlinePolicy | None:
        """What the events role may do: exactly what delivering to the target needs; None
        exactly when the mode has no events role (``events_role``)."""

    @abstractmethod
    def resources(self, p: Processor, net: NetworkRefs) -> list[AWSObject]:
        """The resources the mode adds to the processor's, after its dead-letter queue."""

    @abstractmethod
    def dead_letter_senders(self, ids: ProcessorIds) -> list[str]:
        """The processor's EventBridge rules that may send to its dead-letter queue (the
        queue policy admits these and no other)."""

    def task_permissions(self, p: Processor) -> list[dict[str, Any]]:
        """Statements the task role needs for this mode, beside the objects' (access.py)."""
        return []

    def container(self, p: Processor) -> Container:
        """What the mode sets in the worker container (task.py): none by default."""
        return Container()

    def attributes(self, ids: ProcessorIds) -> dict[str, Target]:
        """``!GetAtt <processor>.<Attr>`` attributes that only this mode offers (every
        mode offers references.py's common ones)."""
        return {}

    def __repr__(self) -> str:
        return f"<Delivery: {self.name}>"
