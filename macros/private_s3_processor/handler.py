"""The Lambda handler: CloudFormation's macro contract around the pure expansion.

It never raises. Invalid input becomes ``status: failure`` with the message
CloudFormation shows; anything unexpected is logged with the request ID and
becomes a failure that includes it.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, NotRequired, TypedDict

from .context import Context, PrefixListLookup, ec2_prefix_list, static_prefix_list
from .errors import ExpansionError
from .expand import expand
from .version import __version__

LOG = logging.getLogger("private_s3_processor")
LOG.setLevel(os.environ.get("LOG_LEVEL", "INFO"))


class MacroRequest(TypedDict):
    """What CloudFormation sends a macro function."""

    requestId: str
    region: str
    accountId: str
    fragment: dict[str, Any]
    transformId: NotRequired[str]
    params: NotRequired[dict[str, Any]]
    templateParameterValues: NotRequired[dict[str, Any]]


class MacroResponse(TypedDict):
    """What a macro function answers."""

    requestId: str
    status: str
    fragment: dict[str, Any]
    errorMessage: NotRequired[str]


def _default_lookup() -> PrefixListLookup:
    # An operator can pin the ID (for example in a region whose API the function
    # cannot reach); otherwise the EC2 API answers once per warm container.
    pinned = os.environ.get("S3_PREFIX_LIST_ID")
    return static_prefix_list(pinned) if pinned else ec2_prefix_list()


_LOOKUP: PrefixListLookup | None = None


def handle(event: Any, lookup: PrefixListLookup) -> MacroResponse:
    """Answer one macro request; ``lookup`` is the S3 prefix-list seam."""
    request_id = "unknown"
    fragment: dict[str, Any] = {}
    try:
        if not isinstance(event, dict):
            raise ExpansionError(["Request: the macro event must be a JSON object"])
        request_id = str(event.get("requestId", "unknown"))
        raw_fragment = event.get("fragment")
        fragment = raw_fragment if isinstance(raw_fragment, dict) else {}
        params = event.get("templateParameterValues") or {}
        if not isinstance(params, dict):
            raise ExpansionError(["Request: templateParameterValues must be a map"])
        ctx = Context(
            region=str(event.get("region", "")),
            account_id=str(event.get("accountId", "")),
            s3_prefix_list=lookup,
            parameters=params,
        )
        result = expand(raw_fragment, ctx)  # rejects a fragment that is not a map
        if ctx.warnings:
            # A macro response has no place for warnings: the macro's log group keeps them.
            LOG.warning(_line(request_id, "warnings", warnings=ctx.warnings))
        LOG.info(_line(request_id, "expanded"))
        return {"requestId": request_id, "status": "success", "fragment": result}
    except ExpansionError as exc:
        LOG.info(_line(request_id, "invalid", errors=exc.messages))
        return {
            "requestId": request_id,
            "status": "failure",
            "fragment": fragment,
            "errorMessage": str(exc),
        }
    except Exception as exc:
        LOG.exception("unexpected error in request %s (version %s)", request_id, __version__)
        return {
            "requestId": request_id,
            "status": "failure",
            "fragment": fragment,
            "errorMessage": f"Internal error in the PrivateS3Processor macro "
            f"(request {request_id}): {type(exc).__name__}: {exc}",
        }


def _line(request_id: str, outcome: str, **details: Any) -> str:
    """One JSON log line; the version tells which release answered a deploy."""
    return json.dumps(
        {"requestId": request_id, "version": __version__, "outcome": outcome, **details}
    )


def lambda_handler(event: Any, context: Any) -> MacroResponse:
    """Entry point named in the macro stack (``private_s3_processor.handler.lambda_handler``)."""
    del context
    global _LOOKUP
    if _LOOKUP is None:
        _LOOKUP = _default_lookup()
    return handle(event, _LOOKUP)
