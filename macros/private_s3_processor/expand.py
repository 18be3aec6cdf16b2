"""The expansion: a template with ``Type: PrivateS3Processor`` in, plain CloudFormation out.

Pure: no AWS calls except the S3 prefix-list lookup behind ``Context``. The
driver validates every processor (collecting all errors), has the networks
planned (``network.plan``), adds the shared cluster, asks each concern module for its
resources, checks the generated logical IDs against the template, and rewrites
references.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from troposphere import AWSObject, ecs

from . import access, failures, limits, network, storage, task, trigger
from .cfn import plain, tagged
from .context import Context
from .delivery import mode_of
from .errors import ExpansionError, resource_error, shown
from .names import CLUSTER, SHARED_NETWORK, ProcessorIds
from .nulls import null_errors
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
    needs = {p.logical_id: mode_of(p).interface_endpoints for p in processors}
    shared, own, network_refs = network.plan(processors, errors, ctx.warnings, needs)
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
            **tagged(network.common_tags(processors)),
        )
    )

    out, members = _assemble(template, processors, shared, generated)
    found = limits.check(
        out,
        members,
        [o.title for o in shared],
        {p.logical_id: p.props.BucketName for p in processors},
    )
    found.errors += null_errors(out)  # CloudFormation refuses any null (nulls.py)
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
            parsed = replace(parsed, kms_key_type=_referenced_type(parsed, resources))
            errors += _key_not_an_arn(parsed)
            processors.append(parsed)
            errors += failures.topic_errors(parsed, resources, ctx.parameters)
    if errors:
        raise ExpansionError(errors)
    return processors


def _key_reference(p: Processor) -> tuple[str, str | None] | None:
    """The logical ID and attribute (None for ``Ref``) ``KmsKeyArn`` names by ``Ref`` or
    list-form ``Fn::GetAtt``, the forms Control Tower's rules read; None otherwise."""
    key = p.props.KmsKeyArn
    if not isinstance(key, Mapping) or len(key) != 1:
        return None
    [(function, argument)] = key.items()
    if function == "Ref" and isinstance(argument, str):
        return argument, None
    if function == "Fn::GetAtt" and isinstance(argument, list) and len(argument) == 2:
        return str(argument[0]), str(argument[1])
    return None


def _referenced_type(p: Processor, resources: Mapping[str, Any]) -> str | None:
    """The type of the resource ``KmsKeyArn`` is a ``Ref`` or ``Fn::GetAtt`` of, if any."""
    reference = _key_reference(p)
    target = resources.get(reference[0]) if reference else None
    kind = target.get("Type") if isinstance(target, Mapping) else None
    return kind if isinstance(kind, str) else None


def _key_not_an_arn(p: Processor) -> list[str]:
    """KmsKeyArn as a Ref of a key or alias, or a GetAtt other than Arn: these give a key
    ID or an alias name (AWS::KMS::Key and AWS::KMS::Alias, "Return values"), which an IAM
    Resource and a log group's KmsKeyId refuse at deployment."""
    reference = _key_reference(p)
    if p.kms_key_type not in ("AWS::KMS::Key", "AWS::KMS::Alias") or reference is None:
        return []
    target, attribute = reference
    if attribute == "Arn":
        return []
    fix = (
        f"!GetAtt {target}.Arn"
        if p.kms_key_type == "AWS::KMS::Key"
        else "the ARN of the key the alias names (an alias ARN is not a key ARN)"
    )
    return [
        resource_error(
            p.logical_id,
            "KmsKeyArn",
            f"must be a key ARN, but {shown(p.props.KmsKeyArn)} gives a key ID or alias "
            f"name: use {fix}",
        )
    ]


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
    rule's target and what the events role, if any, may do for it, what the task role and
    the container get, which rules may send to the dead-letter queue, the resources the
    mode adds) comes from the mode (delivery/)."""
    mode = mode_of(p)
    rule_policy = mode.rule_permissions(p)
    return [
        storage.bucket(p),
        storage.bucket_policy(p, net.s3_endpoint, net.vpc),
        task.log_group(p),
        access.task_role(p, mode.task_permissions(p)),
        access.execution_role(p),
        task.task_definition(p, mode.container(p)),
        *task.task_security_group(p, net, prefix_list),
        *([access.events_role(p, rule_policy)] if rule_policy is not None else []),
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


def _assemble(
    template: Mapping[str, Any],
    processors: list[Processor],
    shared: list[AWSObject],
    generated: dict[str, list[AWSObject]],
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The output template: each processor replaced by its resources (the shared ones
    where the first processor stood), every reference to a processor rewritten."""
    out = copy.deepcopy(dict(template))
    names = {p.logical_id for p in processors}
    _check_ids(out, names, shared, generated)

    members = {p: [o.title for o in objs] for p, objs in generated.items()}
    targets = {
        p.logical_id: attribute_targets(p.logical_id, _vpc_value(p), mode_of(p)) for p in processors
    }
    rewriter = Rewriter(targets, members, {p.logical_id: mode_of(p).name for p in processors})

    resources = _placed(out["Resources"], names, shared, generated)
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
    _rewrite_sections(out, rewriter)
    if rewriter.errors:
        raise ExpansionError(rewriter.errors)
    return out, members


def _placed(
    resources: Mapping[str, Any],
    names: set[str],
    shared: list[AWSObject],
    generated: dict[str, list[AWSObject]],
) -> dict[str, Any]:
    """The template's resources in their order, each processor replaced by its own and
    the shared ones placed before the first processor's."""
    placed: dict[str, Any] = {}
    placed_shared = False
    for name, resource in resources.items():
        if name in names:
            if not placed_shared:
                placed.update({o.title: plain(o) for o in shared})
                placed_shared = True
            placed.update({o.title: plain(o) for o in generated[name]})
        else:
            placed[name] = resource
    return placed


def _rewrite_sections(out: dict[str, Any], rewriter: Rewriter) -> None:
    """References to a processor in the template's other sections, rewritten in place."""
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
