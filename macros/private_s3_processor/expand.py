"""The expansion: a template with ``Type: PrivateS3Processor`` in, plain CloudFormation out.

Pure: no AWS calls except the S3 prefix-list lookup behind ``Context``. The
driver validates every processor (collecting all errors), plans the shared
network and cluster, asks each concern module for its resources, checks the
generated logical IDs against the template, and rewrites references.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from troposphere import AWSObject, ecs

from . import access, failures, limits, network, storage, task, trigger
from .cfn import plain, tagged
from .context import Context
from .delivery import mode_of
from .errors import ExpansionError, shown
from .names import CLUSTER, SHARED_NETWORK, ProcessorIds
from .references import Rewriter, attribute_targets
from .rules import MAX_NESTING_DEPTH, TYPE_NAME
from .spec import Processor, parse


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def expand(template: Any, ctx: Context) -> dict[str, Any]:
    """Return the processed template, or raise :class:`ExpansionError` with every problem."""
    if not isinstance(template, Mapping):
        raise ExpansionError([f"Template: must be a JSON object (got {shown(template)})"])
    resources = template.get("Resources")
    if not isinstance(resources, Mapping) or not resources:
        raise ExpansionError(["Template: 'Resources' must be a non-empty map"])
    deep = limits.walk_depth(template, MAX_NESTING_DEPTH)
    if deep is not None:
        raise ExpansionError(
            [
                f"Template: {shown(deep)} is nested more than {MAX_NESTING_DEPTH} levels deep; "
                "the transform refuses deeper templates (no real template comes close)"
            ]
        )

    processors = _processors(resources, ctx)
    if not processors:
        return copy.deepcopy(dict(template))

    for p in processors:
        ctx.warnings.extend(_principal_warnings(p))
    errors: list[str] = []
    shared, own, network_refs = _networks(processors, errors, ctx.warnings)
    if errors:
        raise ExpansionError(errors)
    prefix_list = _prefix_list(ctx)

    generated: dict[str, list[AWSObject]] = {}
    for p in processors:
        objects = list(own.get(p.logical_id, []))
        objects += _processor_resources(p, network_refs[p.logical_id], prefix_list)
        if p.depends_on:
            for obj in objects:
                obj.DependsOn = list(p.depends_on)
        generated[p.logical_id] = objects
    shared.append(
        ecs.Cluster(
            CLUSTER,
            ClusterSettings=[ecs.ClusterSetting(Name="containerInsights", Value="enabled")],
            **tagged(_common_tags(processors)),
        )
    )

    out, members = _assemble(template, processors, shared, generated)
    found = limits.check(
        out,
        members,
        [o.title for o in shared],
        {p.logical_id: p.props.BucketName for p in processors},
    )
    if found.errors:
        raise ExpansionError(found.errors)
    ctx.warnings.extend(found.warnings)
    return out


def _processors(resources: Mapping[str, Any], ctx: Context) -> list[Processor]:
    """Every processor of the template, validated; or every error in any of them."""
    pseudo = {
        "AWS::Region": ctx.region,
        "AWS::AccountId": ctx.account_id,
        "AWS::Partition": partition_of(ctx.region),
    }
    errors: list[str] = []
    processors: list[Processor] = []
    for logical_id, resource in resources.items():
        if not isinstance(resource, Mapping):
            errors.append(f"Resource '{logical_id}': must be a map (got {shown(resource)})")
            continue
        if resource.get("Type") != TYPE_NAME:
            continue
        parsed = parse(logical_id, resource, ctx.parameters, pseudo)
        if isinstance(parsed, list):
            errors += parsed
        else:
            processors.append(parsed)
    if errors:
        raise ExpansionError(errors)
    return processors


def _prefix_list(ctx: Context) -> str:
    try:
        return ctx.s3_prefix_list(ctx.region)
    except Exception as exc:
        raise ExpansionError(
            [
                f"Template: could not look up the S3 prefix list ID of region {ctx.region} "
                f"(the task security group's egress to S3 needs it): {exc}"
            ]
        ) from exc


def _processor_resources(
    p: Processor, net: network.NetworkRefs, prefix_list: str
) -> list[AWSObject]:
    """One processor's resources, in output order. What its delivery mode decides (the
    rule's target and what the events role may do for it, which rules may send to the
    dead-letter queue, the resources the mode adds) comes from the mode (delivery/)."""
    mode = mode_of(p)
    return [
        storage.bucket(p),
        storage.bucket_policy(p, net.s3_endpoint, net.vpc),
        task.log_group(p),
        access.task_role(p),
        access.execution_role(p),
        task.task_definition(p),
        *task.task_security_group(p, net, prefix_list),
        access.events_role(p, mode.rule_permissions(p)),
        trigger.rule(p, mode.target(p, net)),
        *trigger.dead_letter_queue(p, mode.dead_letter_senders(ProcessorIds(p.logical_id))),
        *mode.resources(p, net),
        *failures.alarms(p),
    ]


def _principal_warnings(p: Processor) -> list[str]:
    """An exemption that covers a whole account (``arn:aws:iam::123456789012:*``) lets
    every principal of it reach the objects from anywhere: allowed, but said."""
    items = p.props.AllowedPrincipalArns
    found = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, str):
            # The account is 12 digits or absent (properties.ARN), never a wildcard.
            account, _, resource = item.partition(":iam::")[2].partition(":")
            if account and resource.lstrip("/").startswith("*"):
                found.append(
                    f"Resource '{p.logical_id}': property 'AllowedPrincipalArns' entry "
                    f"{shown(item)} exempts every principal of account {account} from the "
                    "VPC-endpoint restriction; name the roles that need it"
                )
    return found


def _networks(
    processors: list[Processor], errors: list[str], warnings: list[str]
) -> tuple[list[AWSObject], dict[str, list[AWSObject]], dict[str, network.NetworkRefs]]:
    """Plan networks: one shared created network, or each existing VPC's endpoints."""
    created = [p for p in processors if not p.props.Network.existing]
    refs: dict[str, network.NetworkRefs] = {}
    shared: list[AWSObject] = []
    own: dict[str, list[AWSObject]] = {}
    if created:
        first = created[0]
        cidr = first.props.Network.VpcCidr or network.DEFAULT_CIDR
        zones = first.props.Network.AvailabilityZones or network.DEFAULT_AZS
        for p in created[1:]:
            other_cidr = p.props.Network.VpcCidr or network.DEFAULT_CIDR
            other_zones = p.props.Network.AvailabilityZones or network.DEFAULT_AZS
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
        services = network.interface_services(
            endpoint_sets, any(p.props.KmsKeyArn for p in created)
        )
        net = network.created_network(SHARED_NETWORK, cidr, zones, services, _common_tags(created))
        shared += net.resources
        for p in created:
            refs[p.logical_id] = net
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
        services = network.interface_services({p.props.Endpoints}, p.props.KmsKeyArn is not None)
        net = network.existing_network(
            ProcessorIds(p.logical_id).own_network, n, services, p.props.Tags
        )
        own[p.logical_id] = net.resources
        refs[p.logical_id] = net
    return shared, own, refs


def _common_tags(processors: list[Processor]) -> dict[str, Any]:
    """Tags for shared resources: those every processor sharing them agrees on."""
    common = dict(processors[0].props.Tags)
    for p in processors[1:]:
        common = {k: v for k, v in common.items() if p.props.Tags.get(k) == v}
    return common


def _assemble(
    template: Mapping[str, Any],
    processors: list[Processor],
    shared: list[AWSObject],
    generated: dict[str, list[AWSObject]],
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    out = copy.deepcopy(dict(template))
    names = {p.logical_id for p in processors}
    _check_ids(out, names, shared, generated)

    members = {p: [o.title for o in objs] for p, objs in generated.items()}
    targets = {
        p.logical_id: attribute_targets(p.logical_id, _vpc_value(p), mode_of(p)) for p in processors
    }
    rewriter = Rewriter(targets, members)

    resources: dict[str, Any] = {}
    placed_shared = False
    for name, resource in out["Resources"].items():
        if name in names:
            if not placed_shared:
                resources.update({o.title: plain(o) for o in shared})
                placed_shared = True
            resources.update({o.title: plain(o) for o in generated[name]})
        else:
            resources[name] = resource
    generated_names = {o.title for o in shared} | {
        o.title for objs in generated.values() for o in objs
    }
    # Generated resources can name a processor only through the user's values in the
    # processors' properties (an Environment value `!GetAtt Other.BucketName`). When none
    # does, walking them is wasted work (a sixth of a 40-processor expansion).
    user_values = json.dumps(
        [template["Resources"][p.logical_id].get("Properties") for p in processors]
    )
    generated_mention = any(n in user_values for n in names)
    for name, resource in resources.items():
        if name in generated_names and not generated_mention:
            rewritten = resource
        else:
            rewritten = rewriter.rewrite(resource, f"Resource '{name}'")
        if isinstance(rewritten, dict) and "DependsOn" in rewritten:
            body = {k: v for k, v in rewritten.items() if k != "DependsOn"}
            depends = rewriter.depends_on(rewritten["DependsOn"], body, name in generated_names)
            if depends is None:
                del rewritten["DependsOn"]
            else:
                rewritten["DependsOn"] = depends
        resources[name] = rewritten
    out["Resources"] = resources
    for section, word in (
        ("Outputs", "Output"),
        ("Conditions", "Condition"),
        ("Metadata", "Metadata"),
        ("Rules", "Rule"),
    ):
        if isinstance(out.get(section), dict):
            out[section] = {
                k: rewriter.rewrite(v, f"{word} '{k}'") for k, v in out[section].items()
            }
    if rewriter.errors:
        raise ExpansionError(rewriter.errors)
    return out, members


def _check_ids(
    template: Mapping[str, Any],
    names: set[str],
    shared: list[AWSObject],
    generated: dict[str, list[AWSObject]],
) -> None:
    """Refuse a generated logical ID that the template already uses, or that two
    generators would both use."""
    errors: list[str] = []
    # A processor's own name is taken too: a generated ID equal to it (processor Inv
    # beside a processor InvTaskDefinition, or one named PrivateS3Vpc) would make every
    # reference to it ambiguous.
    taken: dict[str, str] = {name: f"the name of processor '{name}'" for name in names}
    for name in template.get("Parameters") or {}:
        taken[name] = "a parameter of the template"
    for name in template["Resources"]:
        if name not in names:
            taken[name] = "a resource of the template"
    for obj in shared:
        _claim(obj.title, "the shared network and cluster", taken, errors)
    for processor, objects in generated.items():
        for obj in objects:
            _claim(obj.title, f"processor '{processor}'", taken, errors)
    if errors:
        raise ExpansionError(errors)


def _claim(name: str, owner: str, taken: dict[str, str], errors: list[str]) -> None:
    if name in taken:
        errors.append(
            f"Template: logical ID '{name}' is generated for {owner} but is already "
            f"{taken[name]}; rename one of them (generated IDs are listed in DESIGN.md)"
        )
    else:
        taken[name] = owner


def _vpc_value(p: Processor) -> Any:
    if p.props.Network.existing:
        return p.props.Network.VpcId
    return {"Ref": SHARED_NETWORK.vpc}
