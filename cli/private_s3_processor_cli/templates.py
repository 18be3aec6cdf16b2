"""Reading user templates the way CloudFormation does, and running the same expansion
the macro runs (template-level ``Transform`` handling included)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cfn_flip import load as cfn_load
from private_s3_processor import Context, ExpansionError, expand, static_prefix_list
from private_s3_processor.intrinsics import parameter_values
from private_s3_processor.rules import TYPE_NAME

# Offline, nothing can ask EC2 for S3's prefix list; this stand-in keeps the output
# lintable and is announced on stderr (see DESIGN.md, "S3 prefix list").
OFFLINE_PREFIX_LIST = "pl-00000000"
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"


def load_template(path: str | Path) -> dict[str, Any]:
    """A JSON or YAML template (short tags such as ``!Ref`` understood) as a dict."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ExpansionError([f"Template: cannot read {path}: {exc.strerror}"]) from exc
    try:
        data, _ = cfn_load(text)
    except Exception as exc:
        raise ExpansionError([f"Template: {path} is not valid JSON or YAML: {exc}"]) from exc
    if not isinstance(data, dict):
        raise ExpansionError([f"Template: {path} must hold a JSON/YAML object"])
    # cfn_flip yields OrderedDicts and YAML scalars; JSON round-tripping gives plain data.
    plain: dict[str, Any] = json.loads(json.dumps(data))
    return plain


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
) -> dict[str, Any]:
    """Expand a whole template as CloudFormation would present it to the macro."""
    fragment, later = split_transforms(template)
    ctx = Context(
        region=region,
        account_id=account_id,
        s3_prefix_list=static_prefix_list(prefix_list_id),
        parameters=parameter_values(fragment, parameters or {}),
    )
    result = expand(fragment, ctx)
    if later:
        result = {"Transform": later[0] if len(later) == 1 else later, **result}
    return result
