"""``Delivery: Direct`` in the local flow: the rule's target is ECS.

EventBridge builds the target's input with its InputTransformer and calls RunTask:
input ECS would refuse goes to the dead-letter queue with EventBridge's error
attributes; throttling is retried as EventBridge retries a target, then
dead-lettered; a 200 with ``failures[]`` counts as delivered, so that upload is lost
(README, "Delivery modes"). When the task stops, ECS's task-state event goes through
the processor's failure rule, which dead-letters a failed task.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..ecs import task_environment
from ..eventbridge import (
    apply_input_transformer,
    dead_letter,
    overrides_problem,
    single_elements_unwrapped,
    task_stopped_event,
)
from ..launches import LaunchError
from ..model import Processor, Row
from ..stack import Deployed, restore_ecs_target, rule_name
from .base import Mode


class Direct(Mode):
    name = "Direct"

    @staticmethod
    def owns(template: Mapping[str, Any], part: Deployed) -> bool:
        return "EcsParameters" in part.written_target

    @staticmethod
    def read_back(
        aws: Mapping[str, Any],
        template: Mapping[str, Any],
        part: Deployed,
        physical: Mapping[str, str],
        values: Mapping[str, Any],
    ) -> Processor:
        network, target = restore_ecs_target(aws, part, physical, values)
        failure_rule = rule_name(physical[f"{part.name}FailureRule"])
        return Processor(
            **part.fields,
            target=target,
            network=network,
            delivery=Direct.name,
            failure_pattern=aws["events"].describe_rule(Name=failure_rule)["EventPattern"],
        )

    def play(self, p: Processor, row: Row, event: dict[str, Any]) -> None:
        text = apply_input_transformer(p.target["InputTransformer"], event)
        overrides, problem = overrides_problem(text)
        if problem is not None:
            dead_letter(self.services.aws, p, event, problem)
            row.status, row.outcome = "dead-lettered", "dead-lettered"
            self.rows.progress(f"{row.key}: {problem}; event sent to {p.logical_id}'s DLQ")
            return
        row.overrides = overrides
        row.status = "launching"
        self.rows.submit(self._launch, p, row, event)

    def _launch(self, p: Processor, row: Row, event: dict[str, Any]) -> None:
        """EventBridge's ECS target: throttling is retried (backoff with jitter, up to the
        target's MaximumRetryAttempts) and then dead-lettered; a 200 with failures[]
        counts as delivered, so that upload is lost (README, "Delivery modes")."""
        retries = 0
        while True:
            try:
                self.services.ecs.run_task(p, row, p.network)
                break
            except LaunchError as exc:
                if exc.kind == "failures":
                    row.status = (
                        f"lost: RunTask answered failures[] ({exc}); "
                        "EventBridge counted it delivered"
                    )
                    row.outcome = "lost"
                    self.rows.progress(f"{row.key}: {row.status}")
                    return
                if retries >= p.retry_attempts:
                    dead_letter(
                        self.services.aws, p, event, f"ThrottlingException: {exc}", "Throttling"
                    )
                    row.status, row.outcome = "dead-lettered (throttled)", "dead-lettered"
                    return
                self.services.sleep(self.services.rng.uniform(0, min(60.0, 2.0**retries)))
                retries += 1
        self.rows.progress(f"{row.key}: rule {p.logical_id} matched, task started")
        self._task(p, row)

    def _task(self, p: Processor, row: Row) -> None:
        """The task runs; ECS's task-state event then meets the processor's failure rule."""
        self.services.ecs.run(p, row)
        self.rows.progress(f"{row.key}: worker exited {row.exit_code} ({row.status})")
        stopped = task_stopped_event(p, row)
        if p.failure_matcher.matches_event(single_elements_unwrapped(stopped)):
            # What the processor's failure rule does on AWS with ECS's event.
            self.services.aws["sqs"].send_message(
                QueueUrl=p.dead_letter_queue, MessageBody=json.dumps(stopped)
            )
            row.status += ", dead-lettered"
            row.outcome = "dead-lettered"
        else:
            row.outcome = "processed"

    def adopt(self, p: Processor) -> int:
        """Tasks in the cluster for ``p``'s bucket that this session did not start: the
        emulator records them but runs nothing; here they run as the rest do."""
        adopted = 0
        for task in self.services.ecs.foreign_tasks(p, self.rows.started):
            env = task_environment(task)
            self.rows.started.add(task["taskArn"])
            detail = {
                "bucket": {"name": env["S3_BUCKET"]},
                "object": {"key": env.get("S3_KEY", ""), "etag": env.get("S3_ETAG", "")},
            }
            row = self.rows.row_of(detail, p)
            row.overrides = task.get("overrides", {})
            row.task_arn = task["taskArn"]
            row.launch_attempts += 1
            self.rows.progress(f"{row.key}: redriven, task started in {p.logical_id}")
            self.rows.submit(self._task, p, row)
            adopted += 1
        return adopted
