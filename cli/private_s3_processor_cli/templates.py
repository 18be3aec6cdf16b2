"""Reading user templates the way CloudFormation does, and running the same expansion
the macro runs (template-level ``Transform`` handling included)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml  # type: ignore[import-untyped]
from cfn_flip import config as cfn_flip_config
from cfn_flip.yaml_dumper import Dumper as CfnFlipDumper
from cfn_tools.odict import ODict  # type: ignore[import-untyped]
from private_s3_processor import Context, ExpansionError, expand, static_prefix_list
from private_s3_processor.intrinsics import parameter_values
from private_s3_processor.rules import TYPE_NAME

from .loader import TemplateSyntaxError, parse, source_name

T = TypeVar("T")

# Offline, nothing can ask EC2 for S3's prefix list; this stand-in keeps the output
# lintable and is announced on stderr (see DESIGN.md, "S3 prefix list").
OFFLINE_PREFIX_LIST = "pl-00000000"
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"
# What `expand` prints: the AWS CLI's --output values that a template can be written in.
FORMATS = ("json", "yaml")
# The intrinsic functions that have a short form (`!Sub`); `Fn::ForEach::Name` has none.
_SHORT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")


def load_template(path: str | Path) -> dict[str, Any]:
    """A JSON or YAML template (short tags such as ``!Ref`` understood) as a dict; a file
    that is not one, or that is hostile (see ``loader``), raises ``ExpansionError`` with a
    located line per problem. ``-`` reads standard input."""
    try:
        data = parse(path)
    except TemplateSyntaxError as exc:
        raise ExpansionError(exc.messages) from None
    problem = not_a_template(data)
    if problem is not None:
        raise ExpansionError([f"{source_name(path)}: {problem}"])
    result: dict[str, Any] = data
    return result


def not_a_template(data: Any) -> str | None:
    """Why parsed data is not a template (a template is an object), or None."""
    if isinstance(data, dict):
        return None
    kinds = {str: "a string", list: "a list", bool: "a boolean", int: "a number"}
    what = "empty" if data is None else kinds.get(type(data), "a number")
    return f"a template is a JSON/YAML object (this file is {what})"


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


def render(template: Mapping[str, Any], output: str) -> str:
    """The template as ``expand`` prints it: indented JSON, or YAML with short forms."""
    if output == "yaml":
        return to_yaml(template)
    return json.dumps(template, indent=2, ensure_ascii=False) + "\n"


def to_yaml(template: Mapping[str, Any]) -> str:
    """YAML as cfn-flip writes it (``!Ref X``, ``!GetAtt X.Arn``, ``!Sub``, key order
    kept) that loads back, through ``loader``, to exactly ``template``. cfn-flip's
    ``clean_up`` is off (it rewrites ``Fn::Join`` into ``Fn::Sub``: another template), and
    so is ``long_form`` (it keeps ``Fn::`` keys: what YAML's short forms exist to spare).
    cfn-flip writes short forms only for its ordered maps: an intrinsic whose short form
    would read back as something else stays a plain map, written in long form."""
    # cfn_flip.dump_yaml(data, clean_up=False, long_form=False), with the dumper below.
    return str(
        yaml.dump(
            _ordered(template),
            Dumper=_Dumper,
            default_flow_style=False,
            allow_unicode=True,
            width=cfn_flip_config.max_col_width,
        )
    )


class _Dumper(CfnFlipDumper):  # type: ignore[misc]
    """cfn-flip's dumper (short forms, ordered maps, its string styles), except that a
    string holding NEL, LINE SEPARATOR or PARAGRAPH SEPARATOR is double-quoted: PyYAML
    writes them raw in other styles, and YAML reads them back as line breaks."""

    def represent_scalar(self, tag: str, value: Any, style: str | None = None) -> Any:
        if isinstance(value, str) and any(c in value for c in "\x85\u2028\u2029"):
            style = '"'
        return super().represent_scalar(tag, value, style)


def _ordered(value: Any) -> Any:
    if isinstance(value, list):
        return [_ordered(item) for item in value]
    if not isinstance(value, dict):
        return value
    items = [(key, _ordered(item)) for key, item in value.items()]
    if len(value) == 1 and not _short_form_reads_back(*next(iter(value.items()))):
        return dict(items)
    return ODict(items)


def _short_form_reads_back(key: str, arg: Any) -> bool:
    """Whether cfn-flip's short form of ``{key: arg}`` loads back as the same map."""
    if key in ("Ref", "Condition"):
        name = key
    elif key.startswith("Fn::"):
        name = key.removeprefix("Fn::")
    else:
        return True  # not an intrinsic: written as a map
    if not _SHORT_NAME.fullmatch(name):
        return False
    if name == "GetAtt":
        # Written `!GetAtt A.B`, read back split at the first dot: only a pair of
        # strings, the first without a dot, comes back the same (not the string form).
        return (
            isinstance(arg, list)
            and len(arg) == 2
            and all(isinstance(part, str) for part in arg)
            and "." not in arg[0]
        )
    # A short form of a scalar reads back as a string: numbers, booleans and null do not.
    return isinstance(arg, str | list | dict)
