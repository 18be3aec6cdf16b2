"""What a delivery mode answers: how an upload's event gets from the rule to the task.

Every processor has the same bucket, task, rule and dead-letter queue; its ``Delivery``
decides what stands between the rule and the task. The driver (``expand.py``) and the
references (``references.py``) ask the processor's mode these questions and never
branch on its name, so a new mode is one module in this package and its entry in the
registry (``delivery/__init__.py``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from troposphere import AWSObject, events

from ..access import InlinePolicy
from ..cfn import Target
from ..names import ProcessorIds
from ..network import NetworkRefs
from ..spec import Processor

# What every processor has whatever its mode, in a created network and without
# AlarmTopicArn: the bucket and its policy, the task's log group, task role, execution
# role, task definition and security group, the events role, the rule, and the
# dead-letter queue and its policy (expand.py lists them).
COMMON_RESOURCES = 11


class DeliveryMode(ABC):
    """One value of the ``Delivery`` property. Instances are stateless."""

    # The ``Delivery`` value that selects this mode.
    name: ClassVar[str]
    # How many resources :meth:`resources` adds for one processor. The scale test and
    # bench/transform.py's scale search read it; the scale test checks it against an
    # expansion.
    own_resources: ClassVar[int]

    @property
    def resources_per_processor(self) -> int:
        """Resources of one processor in a created network, without AlarmTopicArn."""
        return COMMON_RESOURCES + self.own_resources

    @abstractmethod
    def target(self, p: Processor, net: NetworkRefs) -> events.Target:
        """The rule's one target. The rule adds its retry policy and dead-letter queue,
        the same in every mode (trigger.py)."""

    @abstractmethod
    def rule_permissions(self, p: Processor) -> InlinePolicy:
        """What the events role may do: exactly what delivering to the target needs."""

    @abstractmethod
    def resources(self, p: Processor, net: NetworkRefs) -> list[AWSObject]:
        """The resources the mode adds to the processor's, after its dead-letter queue."""

    @abstractmethod
    def dead_letter_senders(self, ids: ProcessorIds) -> list[str]:
        """The processor's EventBridge rules that may send to its dead-letter queue (the
        queue policy admits these and no other)."""

    def attributes(self, ids: ProcessorIds) -> dict[str, Target]:
        """``!GetAtt <processor>.<Attr>`` attributes that only this mode offers (every
        mode offers references.py's common ones)."""
        return {}

    def __repr__(self) -> str:
        return f"<Delivery: {self.name}>"
