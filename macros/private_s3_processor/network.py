"""The private network: VPC, subnets, route table, S3 gateway and interface endpoints.

No Internet Gateway and no NAT gateway are ever created. All AWS traffic leaves
through the endpoints: S3 through the gateway endpoint on the private route
table, the rest through interface endpoints with private DNS.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from troposphere import AWSObject, GetAtt, GetAZs, Ref, Select, Sub, ec2

from .cfn import tagged, user
from .names import NetworkIds
from .rules import INTERFACE_ENDPOINTS

DEFAULT_CIDR = "10.42.0.0/16"
DEFAULT_AZS = 2
# Each VPC is cut into four equal subnets whatever the AZ count, so that going from
# two AZs to three adds a subnet without changing the CIDR (and so replacing) the
# existing ones.
SUBNET_SLOTS_BITS = 2


@dataclass
class NetworkRefs:
    """How the rest of the expansion reaches a network, created or existing."""

    vpc: Any
    subnets: Any
    endpoint_security_group: Any
    s3_endpoint: Any | None
    resources: list[AWSObject] = field(default_factory=list)
    # A shared network's "endpoint client" group: every task carries it, and it alone is
    # admitted by the endpoints (one rule, not one per processor; see endpoints()).
    client_security_group: Any | None = None


def interface_services(endpoint_sets: Iterable[str], kms: bool) -> list[str]:
    """The interface endpoints a set of processors needs: the union of their sets."""
    wanted: list[str] = []
    for name in ("All", "Minimal"):
        if name in endpoint_sets:
            wanted += [s for s in INTERFACE_ENDPOINTS[name] if s not in wanted]
    order = INTERFACE_ENDPOINTS["All"]
    wanted.sort(key=order.index)
    if kms:
        wanted.append("kms")
    return wanted


def created_network(
    ids: NetworkIds,
    cidr: str,
    zones: int,
    services: Sequence[str],
    tag_values: Mapping[str, Any],
) -> NetworkRefs:
    """A new private VPC with ``zones`` subnets and every endpoint the tasks need."""
    vpc = ec2.VPC(
        ids.vpc,
        CidrBlock=cidr,
        # Private DNS of interface endpoints needs both.
        EnableDnsSupport=True,
        EnableDnsHostnames=True,
        **tagged({**tag_values, "Name": Sub("${AWS::StackName}-private-s3")}),
    )
    route_table = ec2.RouteTable(ids.route_table, VpcId=Ref(vpc), **tagged(tag_values))
    blocks = list(ipaddress.IPv4Network(cidr).subnets(prefixlen_diff=SUBNET_SLOTS_BITS))
    resources: list[AWSObject] = [vpc, route_table]
    subnets = []
    for index in range(zones):
        subnet = ec2.Subnet(
            ids.subnet(index),
            VpcId=Ref(vpc),
            CidrBlock=str(blocks[index]),
            AvailabilityZone=Select(index, GetAZs("")),
            MapPublicIpOnLaunch=False,
            **tagged(tag_values),
        )
        association = ec2.SubnetRouteTableAssociation(
            ids.subnet_route(index), SubnetId=Ref(subnet), RouteTableId=Ref(route_table)
        )
        subnets.append(Ref(subnet))
        resources += [subnet, association]
    refs = endpoints(ids, Ref(vpc), subnets, [Ref(route_table)], services, tag_values)
    refs.resources[:0] = resources
    refs.resources += _endpoint_clients(ids, refs, tag_values)
    return refs


def https_to_endpoints(endpoint_security_group: Any) -> ec2.SecurityGroupRule:
    """The egress rule a task needs to the interface endpoints (on whichever group
    carries it: the task's own, or the shared endpoint-client group)."""
    return ec2.SecurityGroupRule(
        Description="HTTPS to the interface VPC endpoints",
        IpProtocol="tcp",
        FromPort=443,
        ToPort=443,
        DestinationSecurityGroupId=endpoint_security_group,
    )


def _endpoint_clients(
    ids: NetworkIds, refs: NetworkRefs, tag_values: Mapping[str, Any]
) -> list[AWSObject]:
    """The group every task of a shared network carries beside its own: egress TCP 443 to
    the endpoints, admitted by them. One ingress rule for all processors keeps a
    processor at 12 resources (CloudFormation's 500 then holds 40 processors); a rule
    per task group would cost one resource each. The task's own group keeps no ingress
    and egress to S3's prefix list only."""
    clients = ec2.SecurityGroup(
        ids.endpoint_client_security_group,
        GroupDescription="Tasks of the private S3 processors: HTTPS to the interface VPC "
        "endpoints; no ingress",
        VpcId=refs.vpc,
        SecurityGroupEgress=[https_to_endpoints(refs.endpoint_security_group)],
        **tagged(tag_values),
    )
    ingress = ec2.SecurityGroupIngress(
        ids.endpoint_client_ingress,
        Description="HTTPS from the tasks of the private S3 processors",
        GroupId=refs.endpoint_security_group,
        IpProtocol="tcp",
        FromPort=443,
        ToPort=443,
        SourceSecurityGroupId=GetAtt(clients, "GroupId"),
    )
    refs.client_security_group = GetAtt(clients, "GroupId")
    return [clients, ingress]


def endpoints(
    ids: NetworkIds,
    vpc: Any,
    subnets: Any,
    route_tables: Any,
    services: Sequence[str],
    tag_values: Mapping[str, Any],
) -> NetworkRefs:
    """The S3 gateway endpoint and the interface endpoints, with their security group.

    The security group's ingress admits TCP 443 from the tasks only: from the shared
    network's endpoint-client group, or (endpoints of one processor) from its task group.
    """
    group = ec2.SecurityGroup(
        ids.endpoint_security_group,
        GroupDescription="Interface VPC endpoints of the private S3 processors (TCP 443 from "
        "their tasks only)",
        VpcId=vpc,
        **tagged(tag_values),
    )
    gateway = ec2.VPCEndpoint(
        ids.s3_endpoint,
        VpcId=vpc,
        ServiceName=Sub("com.amazonaws.${AWS::Region}.s3"),
        VpcEndpointType="Gateway",
        RouteTableIds=route_tables,
        **tagged(tag_values),
    )
    resources: list[AWSObject] = [group, gateway]
    for service in services:
        resources.append(
            ec2.VPCEndpoint(
                ids.interface_endpoint(service),
                VpcId=vpc,
                ServiceName=Sub(f"com.amazonaws.${{AWS::Region}}.{service}"),
                VpcEndpointType="Interface",
                PrivateDnsEnabled=True,
                SubnetIds=subnets,
                SecurityGroupIds=[Ref(group)],
                **tagged(tag_values),
            )
        )
    return NetworkRefs(
        vpc=vpc,
        subnets=subnets,
        endpoint_security_group=Ref(group),
        s3_endpoint=Ref(gateway),
        resources=resources,
    )


def existing_network(
    ids: NetworkIds,
    network: Any,
    services: Sequence[str],
    tag_values: Mapping[str, Any],
) -> NetworkRefs:
    """An existing VPC: endpoints created in it, or the user's endpoints referenced."""
    vpc = user(network.VpcId)
    subnets = user(network.SubnetIds)
    if network.CreateEndpoints:
        return endpoints(ids, vpc, subnets, user(network.RouteTableIds), services, tag_values)
    return NetworkRefs(
        vpc=vpc,
        subnets=subnets,
        endpoint_security_group=user(network.EndpointSecurityGroupId),
        s3_endpoint=user(network.S3EndpointId) if network.S3EndpointId is not None else None,
    )
