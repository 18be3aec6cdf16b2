"""Reading user templates the way CloudFormation does, and running the same expansion
the macro runs (template-level ``Transform`` handling included)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from private_s3_processor import Context, ExpansionError, expand, static_prefix_list
from private_s3_processor.intrinsics import parameter_values
from private_s3_processor.rules import TYPE_NAME

from .loader import TemplateSyntaxError, parse

T = TypeVar("T")

# Offline, nothing can ask EC2 for S3's prefix list; this stand-in keeps the output
# lintable and is announced on stderr (see DESIGN.md, "S3 prefix list").
OFFLINE_PREFIX_LIST = "pl-00000000"
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"


def load_template(path: str | Path) -> dict[str, Any]:
    """A JSON or YAML template (short tags such as ``!Ref`` understood) as a dict; a file
    that is not one, or that is hostile (see ``loader``), raises ``ExpansionError`` with a
    located line per problem."""
    try:
        data = parse(path)
    except TemplateSyntaxError as exc:
        raise ExpansionError(exc.messages) from None
    if not isinstance(data, dict):
        kinds = {str: "a string", list: "a list", bool: "a boolean", int: "a number"}
        what = "empty" if data is None else kinds.get(type(data), "a number")
        raise ExpansionError([f"{path}: a template is a JSON/YAML object (this file is {what})"])
    return data


def has_processors(template: Mapping[str, Any]) -> bool:
    """Whether the template holds a resource of ``Type: PrivateS3Processor``."""
    resources = template.get("Resources")
    return isinstance(resources, Mapping) and any(
        isinstance(r, Mapping) and r.get("Type") == TYPE_NAME for r in resources.values()
    )


def command_problems(template: Mapping[str, Any], given: Mapping[str, Any]) -> list[str]:
    """What CloudFormation rejects before the macro ever runs, so only the command line can
    check it (the fragment the Lambda receives has no ``Transform`` section): processors in
    a template that does not name the transform, and parameter values the template does
    not declare. Messages are CloudFormation's."""
    problems = []
    if has_processors(template):
        declared = template.get("Transform")
        listed = declared if isinstance(declared, list) else [declared]
        if TYPE_NAME not in listed:
            problems.append(
                f"Template format error: Unrecognized resource types: [{TYPE_NAME}] "
                f"(the template has no Transform: {TYPE_NAME})"
            )
    parameters = template.get("Parameters")
    names = set(parameters) if isinstance(parameters, Mapping) else set()
    unknown = [name for name in given if name not in names]
    if unknown:
        problems.append(f"Parameters: [{', '.join(unknown)}] do not exist in the template")
    return problems


def with_problems(problems: list[str], run: Callable[[], T]) -> T:
    """``run()``, failing with ``problems`` and whatever else ``run`` finds, one each."""
    try:
        result = run()
    except ExpansionError as exc:
        raise ExpansionError([*problems, *exc.messages]) from None
    if problems:
        raise ExpansionError(problems)
    return result


def split_transforms(template: Mapping[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    """The fragment CloudFormation sends the macro (no ``Transform``) and the
    transforms that run after this one."""
    fragment = dict(template)
    declared = fragment.pop("Transform", None)
    listed = declared if isinstance(declared, list) else [] if declared is None else [declared]
    return fragment, [t for t in listed if t != TYPE_NAME]


def expand_document(
    template: Mapping[str, Any],
    parameters: Mapping[str, Any] | None = None,
    region: str = DEFAULT_REGION,
    account_id: str = DEFAULT_ACCOUNT,
    prefix_list_id: str = OFFLINE_PREFIX_LIST,
    warnings: list[str] | None = None,
) -> dict[str, Any]:
    """Expand a whole template as CloudFormation would present it to the macro; what
    deploys but deserves a look is appended to ``warnings`` when given."""
    fragment, later = split_transforms(template)
    ctx = Context(
        region=region,
        account_id=account_id,
        s3_prefix_list=static_prefix_list(prefix_list_id),
        parameters=parameter_values(fragment, parameters or {}),
        warnings=warnings if warnings is not None else [],
    )
    result = expand(fragment, ctx)
    if later:
        result = {"Transform": later[0] if len(later) == 1 else later, **result}
    return result
