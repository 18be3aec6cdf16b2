"""Every generated logical ID, in one place.

Changing any of these names makes CloudFormation *replace* the resource in users'
stacks (a new bucket, a new VPC): treat them as public interface. They are listed
in DESIGN.md and pinned by the golden files.
"""

from __future__ import annotations

from dataclasses import dataclass

# Shared resources (one network and one cluster for all processors of a template).
SHARED_PREFIX = "PrivateS3"
CLUSTER = f"{SHARED_PREFIX}Cluster"
# The tag on every processor's task definition, which RunTask and the service propagate to
# its tasks, so a role can be limited to one processor's tasks (aws:ResourceTag): its
# value is the task family, "<stack name>-<processor>". Users may not set this key.
OWNER_TAG = "private-s3-processor:processor"

# Interface endpoint service -> the logical-ID word for it.
ENDPOINT_WORDS = {
    "ecr.api": "EcrApi",
    "ecr.dkr": "EcrDkr",
    "ecs": "Ecs",
    "ecs-telemetry": "EcsTelemetry",
    "logs": "Logs",
    "sqs": "Sqs",
    "kms": "Kms",
}


@dataclass(frozen=True)
class NetworkIds:
    """IDs of a network's resources; ``owner`` is SHARED_PREFIX or a processor's ID."""

    owner: str

    @property
    def vpc(self) -> str:
        return f"{self.owner}Vpc"

    def subnet(self, index: int) -> str:
        return f"{self.owner}Subnet{index + 1}"

    def subnet_route(self, index: int) -> str:
        return f"{self.owner}Subnet{index + 1}RouteTableAssociation"

    @property
    def route_table(self) -> str:
        return f"{self.owner}RouteTable"

    @property
    def endpoint_security_group(self) -> str:
        return f"{self.owner}EndpointSecurityGroup"

    @property
    def endpoint_client_security_group(self) -> str:
        return f"{self.owner}EndpointClientSecurityGroup"

    @property
    def endpoint_client_ingress(self) -> str:
        return f"{self.owner}EndpointClientIngress"

    @property
    def s3_endpoint(self) -> str:
        return f"{self.owner}S3Endpoint"

    def interface_endpoint(self, service: str) -> str:
        return f"{self.owner}{ENDPOINT_WORDS[service]}Endpoint"


SHARED_NETWORK = NetworkIds(SHARED_PREFIX)


@dataclass(frozen=True)
class ProcessorIds:
    """IDs of one processor's own resources, all derived from its logical ID."""

    processor: str

    @property
    def bucket(self) -> str:
        return f"{self.processor}Bucket"

    @property
    def bucket_policy(self) -> str:
        return f"{self.processor}BucketPolicy"

    @property
    def log_group(self) -> str:
        return f"{self.processor}LogGroup"

    @property
    def task_definition(self) -> str:
        return f"{self.processor}TaskDefinition"

    @property
    def task_role(self) -> str:
        return f"{self.processor}TaskRole"

    @property
    def execution_role(self) -> str:
        return f"{self.processor}ExecutionRole"

    @property
    def task_security_group(self) -> str:
        return f"{self.processor}TaskSecurityGroup"

    @property
    def endpoint_ingress(self) -> str:
        return f"{self.processor}EndpointIngress"

    @property
    def rule(self) -> str:
        return f"{self.processor}Rule"

    @property
    def events_role(self) -> str:
        return f"{self.processor}EventsRole"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.processor}DeadLetterQueue"

    @property
    def dead_letter_queue_policy(self) -> str:
        return f"{self.processor}DeadLetterQueuePolicy"

    @property
    def failure_rule(self) -> str:
        return f"{self.processor}FailureRule"

    @property
    def dead_letter_alarm(self) -> str:
        return f"{self.processor}DeadLetterAlarm"

    @property
    def dead_letter_age_alarm(self) -> str:
        return f"{self.processor}DeadLetterAgeAlarm"

    @property
    def state_machine(self) -> str:
        return f"{self.processor}StateMachine"

    @property
    def state_machine_role(self) -> str:
        return f"{self.processor}StateMachineRole"

    @property
    def state_machine_log_group(self) -> str:
        return f"{self.processor}StateMachineLogGroup"

    # Delivery: Queued.

    @property
    def queue(self) -> str:
        return f"{self.processor}Queue"

    @property
    def queue_policy(self) -> str:
        return f"{self.processor}QueuePolicy"

    @property
    def service(self) -> str:
        return f"{self.processor}Service"

    @property
    def scalable_target(self) -> str:
        return f"{self.processor}ScalableTarget"

    @property
    def scale_out_policy(self) -> str:
        return f"{self.processor}ScaleOutPolicy"

    @property
    def backlog_alarm(self) -> str:
        return f"{self.processor}BacklogAlarm"

    @property
    def scale_in_policy(self) -> str:
        return f"{self.processor}ScaleInPolicy"

    @property
    def idle_alarm(self) -> str:
        return f"{self.processor}IdleAlarm"

    @property
    def queue_age_alarm(self) -> str:
        return f"{self.processor}QueueAgeAlarm"

    @property
    def own_network(self) -> NetworkIds:
        """Endpoints a processor creates in an existing VPC are its own."""
        return NetworkIds(self.processor)
