"""``private-s3-processor local``: the whole flow on one machine, on the moto server.

S3 upload -> S3's EventBridge event -> each processor's rule pattern -> its delivery
mode (``delivery/``: ``direct`` plays the rule target's InputTransformer and ECS
RunTask, ``orchestrated`` StartExecution and the state machine, ``queued`` the queue
and a scaled service of queue-mode workers) -> the worker as a local process -> ECS's
task-state event, or the queue's redrive policy -> the dead-letter queue.

One module per AWS service the flow stands in for (``eventbridge``, ``ecs``,
``stepfunctions``, ``service`` and ``agent`` for a Queued service, ``autoscaling``,
``stack`` for CloudFormation, ``emulator`` for the moto server).
Imports run one way, checked by ``tests/test_local_layers.py``: command -> session ->
delivery -> services -> emulator -> model. Nothing is imported here, so
``local.emulator`` (used by the tests and ``redrive``) loads without the rest.
"""
