"""The private network: VPC, subnets, route table, S3 gateway and interface endpoints.

No Internet Gateway and no NAT gateway are ever created. All AWS traffic leaves
through the endpoints: S3 through the gateway endpoint on the private route
table, the rest through interface endpoints with private DNS.

``plan`` decides which network each processor of a template uses: the one created
network they share, or endpoints in (or of) their own existing VPC.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from troposphere import AWSObject, GetAtt, GetAZs, Ref, Select, Sub, ec2

from .cfn import tagged, user
from .endpoint_policies import interface_policy, s3_gateway_policy, supports_policy
from .errors import shown
from .names import SHARED_NETWORK, NetworkIds, ProcessorIds
from .rules import ENDPOINT_ORDER, INTERFACE_ENDPOINTS
from .spec import Processor

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


def interface_services(
    endpoint_sets: Iterable[str], kms: bool, extra: Iterable[str] = ()
) -> list[str]:
    """The interface endpoints a set of processors needs: the union of their sets, those
    their delivery modes need (``extra``), and ``kms`` for a customer managed key."""
    wanted: set[str] = set(extra)
    for name in endpoint_sets:
        wanted |= set(INTERFACE_ENDPOINTS[name])
    if kms:
        wanted.add("kms")
    return sorted(wanted, key=ENDPOINT_ORDER.index)


def created_network(
    ids: NetworkIds,
    cidr: str,
    zones: int,
    services: Sequence[str],
    tag_values: Mapping[str, Any],
    buckets: Sequence[str],
) -> NetworkRefs:
    """A new private VPC with ``zones`` subnets and every endpoint the tasks need; its S3
    endpoint reaches ``buckets`` (logical IDs: every S3 user of it is a processor)."""
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
    refs = endpoints(
        ids, Ref(vpc), subnets, [Ref(route_table)], services, tag_values, list(buckets)
    )
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


def no_egress() -> ec2.SecurityGroupRule:
    """The egress rule that allows nothing: interface endpoints only answer connections,
    and a group without any egress rule gets EC2's allow-all. One rule to 127.0.0.1/32
    replaces it: the form the CloudFormation User Guide gives for removing the default rule
    (AWS::EC2::SecurityGroup, "Remove the default rule")."""
    return ec2.SecurityGroupRule(
        Description="No egress: the endpoints only answer connections (replaces the "
        "default allow-all rule)",
        IpProtocol="-1",
        CidrIp="127.0.0.1/32",
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
    buckets: list[str] | None = None,
) -> NetworkRefs:
    """The S3 gateway endpoint and the interface endpoints, with their security group and
    their policies (``endpoint_policies``): the S3 endpoint reaches ``buckets`` (logical
    IDs), or with ``None`` the account's buckets.

    The security group's ingress admits TCP 443 from the tasks only: from the shared
    network's endpoint-client group, or (endpoints of one processor) from its task group.
    """
    group = ec2.SecurityGroup(
        ids.endpoint_security_group,
        GroupDescription="Interface VPC endpoints of the private S3 processors (TCP 443 from "
        "their tasks only)",
        VpcId=vpc,
        SecurityGroupEgress=[no_egress()],
        **tagged(tag_values),
    )
    gateway = ec2.VPCEndpoint(
        ids.s3_endpoint,
        VpcId=vpc,
        ServiceName=Sub("com.amazonaws.${AWS::Region}.s3"),
        VpcEndpointType="Gateway",
        RouteTableIds=route_tables,
        PolicyDocument=s3_gateway_policy(buckets),
        **tagged(tag_values),
    )
    resources: list[AWSObject] = [group, gateway]
    for service in services:
        policy = {"PolicyDocument": interface_policy(service)} if supports_policy(service) else {}
        resources.append(
            ec2.VPCEndpoint(
                ids.interface_endpoint(service),
                VpcId=vpc,
                ServiceName=Sub(f"com.amazonaws.${{AWS::Region}}.{service}"),
                VpcEndpointType="Interface",
                PrivateDnsEnabled=True,
                SubnetIds=subnets,
                SecurityGroupIds=[Ref(group)],
                **policy,
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


def plan(
    processors: list[Processor],
    errors: list[str],
    warnings: list[str],
    needs: Mapping[str, Sequence[str]] | None = None,
) -> tuple[list[AWSObject], dict[str, list[AWSObject]], dict[str, NetworkRefs]]:
    """Plan networks: one shared created network, or each existing VPC's endpoints.
    ``needs``: processor -> the interface endpoints its delivery mode needs."""
    needs = needs or {}
    created = [p for p in processors if not p.props.Network.existing]
    refs: dict[str, NetworkRefs] = {}
    shared: list[AWSObject] = []
    if created:
        net = _shared_network(created, errors, warnings, needs)
        shared += net.resources
        for p in created:
            refs[p.logical_id] = net
    own = _existing_networks(processors, errors, warnings, refs, needs)
    return shared, own, refs


def _shared_network(
    created: list[Processor],
    errors: list[str],
    warnings: list[str],
    needs: Mapping[str, Sequence[str]],
) -> NetworkRefs:
    """The one network every processor without a VpcId shares: its CIDR and zones must
    agree; its interface endpoints are the union of their sets."""
    first = created[0]
    cidr = first.props.Network.VpcCidr or DEFAULT_CIDR
    zones = first.props.Network.AvailabilityZones or DEFAULT_AZS
    for p in created[1:]:
        other_cidr = p.props.Network.VpcCidr or DEFAULT_CIDR
        other_zones = p.props.Network.AvailabilityZones or DEFAULT_AZS
        if (other_cidr, other_zones) != (cidr, zones):
            errors.append(
                f"Resource '{p.logical_id}': property 'Network' must match processor "
                f"'{first.logical_id}' (VpcCidr {cidr}, AvailabilityZones {zones}): all "
                f"processors of a template that use a created network share it "
                f"(got VpcCidr {other_cidr}, AvailabilityZones {other_zones})"
            )
    endpoint_sets = {p.props.Endpoints for p in created}
    if len(endpoint_sets) > 1:
        minimal = [p.logical_id for p in created if p.props.Endpoints == "Minimal"]
        warnings.append(
            f"Resource '{minimal[0]}': property 'Endpoints' is Minimal, but the created "
            "network is shared with processors that keep All, so it gets the All set "
            "of interface endpoints (the union of the sets; each costs per AZ-hour)"
        )
    services = interface_services(
        endpoint_sets,
        any(p.props.KmsKeyArn for p in created),
        [s for p in created for s in needs.get(p.logical_id, ())],
    )
    buckets = [ProcessorIds(p.logical_id).bucket for p in created]
    return created_network(SHARED_NETWORK, cidr, zones, services, common_tags(created), buckets)


def _existing_networks(
    processors: list[Processor],
    errors: list[str],
    warnings: list[str],
    refs: dict[str, NetworkRefs],
    needs: Mapping[str, Sequence[str]],
) -> dict[str, list[AWSObject]]:
    """Each existing VPC's endpoints (or the user's), added to ``refs``; returns the
    resources each processor brings for its own network."""
    own: dict[str, list[AWSObject]] = {}
    seen_vpcs: dict[str, str] = {}
    for p in processors:
        if not p.props.Network.existing:
            continue
        n = p.props.Network
        if n.CreateEndpoints:
            key = shown(n.VpcId)
            if key in seen_vpcs:
                errors.append(
                    f"Resource '{p.logical_id}': property 'Network.CreateEndpoints' is true for "
                    f"VPC {key}, like processor '{seen_vpcs[key]}': private DNS allows one "
                    "endpoint per service in a VPC; set CreateEndpoints: false here with "
                    f"EndpointSecurityGroupId: !Ref {seen_vpcs[key]}EndpointSecurityGroup and "
                    f"S3EndpointId: !Ref {seen_vpcs[key]}S3Endpoint"
                )
                continue
            seen_vpcs[key] = p.logical_id
        extra = needs.get(p.logical_id, ())
        if extra and not n.CreateEndpoints:
            warnings.append(
                f"Resource '{p.logical_id}': property 'Network.CreateEndpoints' is false, so "
                f"the VPC's own interface endpoints must include {', '.join(extra)} (its "
                "Delivery needs them); without them its tasks cannot reach those services"
            )
        services = interface_services({p.props.Endpoints}, p.props.KmsKeyArn is not None, extra)
        net = existing_network(ProcessorIds(p.logical_id).own_network, n, services, p.props.Tags)
        own[p.logical_id] = net.resources
        refs[p.logical_id] = net
    return own


def common_tags(processors: list[Processor]) -> dict[str, Any]:
    """Tags for shared resources: those every processor sharing them agrees on."""
    common = dict(processors[0].props.Tags)
    for p in processors[1:]:
        common = {k: v for k, v in common.items() if p.props.Tags.get(k) == v}
    return common
