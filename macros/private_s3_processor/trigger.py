"""The EventBridge rule that turns an upload into a task, and its dead-letter queue.

What the rule delivers to, and which rules may send to the queue, depend on the
processor's delivery mode (``delivery/``); the driver asks the mode and passes its
answers here.
"""

from __future__ import annotations

from typing import Any

from troposphere import GetAtt, Ref, events, sqs

from .cfn import tagged
from .encryption import queue_encryption, queue_metadata
from .names import ProcessorIds
from .queues import rule_queue
from .spec import Processor
from .storage import record_policies


def wildcard_literal(text: str) -> str:
    """``text`` matched literally inside an EventBridge ``wildcard`` pattern."""
    return text.replace("\\", "\\\\").replace("*", "\\*")


def key_filter(prefix: str, suffix: str) -> list[Any] | None:
    """The ``detail.object.key`` filter: prefix AND suffix, or None for every key.

    Values in one EventBridge array are OR'd, so ``[{prefix}, {suffix}]`` would be the
    original design's bug. ``wildcard`` ``<prefix>*<suffix>`` is the AND, except for
    keys where the prefix and the suffix overlap (prefix ``a.csv``, suffix ``.csv``,
    key ``a.csv``): those few keys are listed exactly beside it.
    """
    if prefix and suffix:
        values: list[Any] = [{"wildcard": f"{wildcard_literal(prefix)}*{wildcard_literal(suffix)}"}]
        for overlap in range(1, min(len(prefix), len(suffix)) + 1):
            if prefix.endswith(suffix[:overlap]):
                key = prefix + suffix[overlap:]
                if key not in values:
                    values.append(key)
        return values
    if prefix:
        return [{"prefix": prefix}]
    if suffix:
        return [{"suffix": suffix}]
    return None


def event_pattern(p: Processor) -> dict[str, Any]:
    ids = ProcessorIds(p.logical_id)
    detail: dict[str, Any] = {"bucket": {"name": [Ref(ids.bucket)]}}
    keys = key_filter(p.props.Prefix, p.props.Suffix)
    if keys is not None:
        detail["object"] = {"key": keys}
    return {"source": ["aws.s3"], "detail-type": ["Object Created"], "detail": detail}


def rule(p: Processor, target: events.Target) -> events.Rule:
    """The rule on the processor's uploads, delivering to ``target`` (its delivery mode's,
    ``delivery/``) with the processor's retry policy and dead-letter queue."""
    ids = ProcessorIds(p.logical_id)
    props = p.props
    target.RetryPolicy = events.RetryPolicy(
        MaximumRetryAttempts=props.RetryAttempts,
        MaximumEventAgeInSeconds=props.MaximumEventAgeInSeconds,
    )
    target.DeadLetterConfig = events.DeadLetterConfig(Arn=GetAtt(ids.dead_letter_queue, "Arn"))
    return events.Rule(
        ids.rule,
        Description=f"Uploads to the bucket of processor {p.logical_id} start its Fargate task",
        EventPattern=event_pattern(p),
        State="ENABLED",
        Targets=[target],
        **tagged(props.Tags),
    )


def dead_letter_queue(p: Processor, senders: list[str]) -> list[sqs.Queue | sqs.QueuePolicy]:
    """Every upload not processed, with the reason, in one queue: launches EventBridge
    could not make, and what the delivery mode catches after a launch (Direct: the
    failure rule's failed tasks; Orchestrated: what the state machine gave up on).
    Only ``senders``, the processor's rules the mode names, may send as a rule; a state
    machine sends with its role."""
    ids = ProcessorIds(p.logical_id)
    return rule_queue(
        ids.dead_letter_queue,
        ids.dead_letter_queue_policy,
        senders,
        p.props.Tags,
        record_policies(p),
        queue_encryption(p),
        queue_metadata(p, dead_letter=True),
    )
