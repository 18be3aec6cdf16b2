"""The ECS side: log group, task definition, and the task's security group."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from troposphere import GetAtt, Ref, Sub, ec2, ecs, logs

from .cfn import tagged, user
from .encryption import log_group_encryption, log_group_metadata
from .guard import metadata_keyword, suppressions
from .names import OWNER_TAG, ProcessorIds
from .network import NetworkRefs, https_to_endpoints
from .spec import Processor
from .storage import record_policies

CONTAINER_NAME = "worker"

# The original design's test block, without hand-editing: echo what arrived, then
# sleep so the task can be watched. sh -c replaces the image's entrypoint.
TEST_SCRIPT = (
    'echo "private-s3-processor test mode: S3_BUCKET=$S3_BUCKET S3_KEY=$S3_KEY '
    "S3_SIZE=$S3_SIZE S3_ETAG=$S3_ETAG S3_VERSION_ID=$S3_VERSION_ID "
    'OUTPUT_PREFIX=$OUTPUT_PREFIX"; sleep "${TEST_SLEEP_SECONDS:-60}"'
)


@dataclass(frozen=True)
class Container:
    """What a processor's delivery mode sets in the ``worker`` container (``delivery/``).

    ``environment``: static variables after OUTPUT_PREFIX and the user's Environment (a
    name set here replaces the user's). ``stop_timeout``: seconds between SIGTERM and
    SIGKILL (ECS's default when None). ``test_script``: whether ``Mode: Test`` replaces the
    entrypoint with the echo-and-sleep script, which reads the S3_* variables of one
    upload; ``test_environment`` is added in Test mode instead when it does not."""

    environment: tuple[tuple[str, Any], ...] = ()
    stop_timeout: int | None = None
    test_script: bool = True
    test_environment: tuple[tuple[str, Any], ...] = field(default=())


def log_group(p: Processor) -> logs.LogGroup:
    """The worker's output, kept like the bucket (``storage.record_policies``)."""
    return logs.LogGroup(
        ProcessorIds(p.logical_id).log_group,
        **record_policies(p),
        RetentionInDays=p.props.LogRetentionInDays,
        **log_group_encryption(p),
        **tagged(p.props.Tags),
        Metadata=log_group_metadata(p),
    )


def task_definition(p: Processor, mode: Container | None = None) -> ecs.TaskDefinition:
    """The processor's task; ``mode`` is what its delivery mode sets in the container."""
    ids = ProcessorIds(p.logical_id)
    props = p.props
    mode = mode or Container()
    testing = props.Mode == "Test"
    ours = list(mode.environment)
    if testing and not mode.test_script:
        ours += mode.test_environment
    names = {name for name, _ in ours}
    environment = []
    if props.OutputPrefix is not None:
        environment.append(ecs.Environment(Name="OUTPUT_PREFIX", Value=props.OutputPrefix))
    environment += [
        ecs.Environment(Name=k, Value=user(v))
        for k, v in sorted(props.Environment.items())
        if k not in names
    ]
    environment += [ecs.Environment(Name=k, Value=v) for k, v in ours]
    container: dict[str, Any] = {}
    if testing and mode.test_script:
        container["EntryPoint"] = ["sh", "-c"]
        container["Command"] = [TEST_SCRIPT]
    elif props.Command is not None and not testing:
        container["Command"] = props.Command
    if mode.stop_timeout is not None:
        container["StopTimeout"] = mode.stop_timeout
    if environment:
        container["Environment"] = environment
    if props.User is not None:
        # Test mode's sh -c only echoes and sleeps, so it runs as any user; the worker
        # writes only under /tmp (the task volume: README, "The image").
        container["User"] = props.User
    return ecs.TaskDefinition(
        ids.task_definition,
        # A fixed family lets the events role name it (ecs:RunTask on family:*).
        Family=family(p),
        RequiresCompatibilities=["FARGATE"],
        NetworkMode="awsvpc",
        Cpu=str(props.Cpu),
        Memory=str(props.memory),
        RuntimePlatform=ecs.RuntimePlatform(
            CpuArchitecture=props.Architecture, OperatingSystemFamily="LINUX"
        ),
        EphemeralStorage=ecs.EphemeralStorage(SizeInGiB=props.EphemeralStorageGiB),
        ExecutionRoleArn=GetAtt(ids.execution_role, "Arn"),
        TaskRoleArn=GetAtt(ids.task_role, "Arn"),
        # The root file system is read-only; /tmp is a task volume for spooling.
        Volumes=[ecs.Volume(Name="tmp")],
        ContainerDefinitions=[
            ecs.ContainerDefinition(
                Name=CONTAINER_NAME,
                Image=user(props.Image),
                Essential=True,
                # The hard limit is the task's own memory: Fargate already caps the task
                # there, so the container can use exactly what it could without it. ECS
                # refuses only a container limit above the task's (ECS API reference,
                # ContainerDefinition "memory"; "Choosing Fargate task sizes"). Control
                # Tower's CT.ECS.PR.7 asks for a container-level limit.
                Memory=props.memory,
                ReadonlyRootFilesystem=True,
                MountPoints=[ecs.MountPoint(ContainerPath="/tmp", SourceVolume="tmp")],
                LogConfiguration=ecs.LogConfiguration(
                    LogDriver="awslogs",
                    Options={
                        "awslogs-group": Ref(ids.log_group),
                        "awslogs-region": Ref("AWS::Region"),
                        "awslogs-stream-prefix": CONTAINER_NAME,
                    },
                ),
                **container,
            )
        ],
        **tagged({**props.Tags, OWNER_TAG: family(p)}),
        # Without User the image's own USER applies, which cfn-guard cannot see.
        **metadata_keyword(
            suppressions("ecs_task_definition_nonroot_user_check") if p.props.User is None else {}
        ),
    )


def family(p: Processor) -> Any:
    """The processor's task family, also its tasks' OWNER_TAG value."""
    return Sub(f"${{AWS::StackName}}-{p.logical_id}")


def task_security_group(
    p: Processor, net: NetworkRefs, s3_prefix_list: str
) -> list[ec2.SecurityGroup | ec2.SecurityGroupIngress]:
    """No ingress; egress TCP 443 to the endpoints and to S3's prefix list only.

    S3 through a gateway endpoint is reached at S3's public addresses, so egress
    limited to the VPC's CIDR would silently break S3 and image-layer pulls; the
    prefix list is the precise destination. In a shared network the way to the
    endpoints is the network's endpoint-client group, which the task also carries
    (network.py); otherwise this group has it, and the endpoints admit this group.
    """
    ids = ProcessorIds(p.logical_id)
    s3 = ec2.SecurityGroupRule(
        Description="HTTPS to S3 through the gateway endpoint (S3's prefix list)",
        IpProtocol="tcp",
        FromPort=443,
        ToPort=443,
        DestinationPrefixListId=s3_prefix_list,
    )
    if net.client_security_group is not None:
        group = ec2.SecurityGroup(
            ids.task_security_group,
            GroupDescription=f"Tasks of processor {p.logical_id}: no ingress, HTTPS to S3 "
            "only (the endpoints through the shared endpoint-client group)",
            VpcId=net.vpc,
            SecurityGroupEgress=[s3],
            **tagged(p.props.Tags),
        )
        return [group]
    group = ec2.SecurityGroup(
        ids.task_security_group,
        GroupDescription=f"Tasks of processor {p.logical_id}: no ingress, HTTPS to the VPC "
        "endpoints and S3 only",
        VpcId=net.vpc,
        SecurityGroupEgress=[https_to_endpoints(net.endpoint_security_group), s3],
        **tagged(p.props.Tags),
    )
    ingress = ec2.SecurityGroupIngress(
        ids.endpoint_ingress,
        Description=f"HTTPS from the tasks of processor {p.logical_id}",
        GroupId=net.endpoint_security_group,
        IpProtocol="tcp",
        FromPort=443,
        ToPort=443,
        SourceSecurityGroupId=GetAtt(group, "GroupId"),
    )
    return [group, ingress]


def security_groups(p: Processor, net: NetworkRefs) -> list[Any]:
    """The groups a task of ``p`` runs with."""
    own = GetAtt(ProcessorIds(p.logical_id).task_security_group, "GroupId")
    return [own] if net.client_security_group is None else [own, net.client_security_group]
