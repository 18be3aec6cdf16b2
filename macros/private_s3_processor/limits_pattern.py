"""The rule's event pattern against EventBridge's limits: its size and its wildcards.

The pattern is measured as deployed (the bucket's name in place of its ``Ref``), and a
wildcard value's matcher complexity is computed as event-ruler computes it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .errors import resource_error
from .limits_policy import BUCKET_NAME_CHARS
from .rules import DEFAULT_EVENT_PATTERN_QUOTA, MAX_EVENT_PATTERN_CHARS, MAX_WILDCARD_COMPLEXITY

_BUCKET_REF = re.compile(r'\{"Ref":"[^"]*"\}')


def event_pattern(
    processor: str, props: Mapping[str, Any], bucket_name: Any
) -> tuple[list[str], list[str], bool]:
    """(errors, warnings, whether the pattern uses a wildcard) of a processor's rule."""
    pattern = props.get("EventPattern")
    if not isinstance(pattern, Mapping):
        return [], [], False
    # The pattern names the bucket with a Ref: counted as the bucket's name, or the
    # longest one S3 allows when generated.
    bucket = bucket_name if isinstance(bucket_name, str) else "b" * BUCKET_NAME_CHARS
    text = json.dumps(pattern, separators=(",", ":"), ensure_ascii=False)
    ref = _BUCKET_REF.search(text)
    chars = len(text) + (len(json.dumps(bucket)) - len(ref.group(0)) if ref else 0)
    errors, warnings = [], []
    if chars > MAX_EVENT_PATTERN_CHARS:
        errors.append(
            resource_error(
                processor,
                "Prefix",
                f"and 'Suffix' make the rule's event pattern {chars:,} characters; "
                f"EventBridge allows {MAX_EVENT_PATTERN_CHARS:,} (EventBridge quotas, event "
                "pattern size, at its adjustable maximum): shorten them, or avoid a Prefix "
                "that ends with the start of the Suffix (each such overlap adds a value)",
            )
        )
    elif chars > DEFAULT_EVENT_PATTERN_QUOTA:
        warnings.append(
            resource_error(
                processor,
                "Prefix",
                f"and 'Suffix' make the rule's event pattern {chars:,} characters: above "
                f"EventBridge's default quota of {DEFAULT_EVENT_PATTERN_QUOTA:,} (adjustable up "
                f"to {MAX_EVENT_PATTERN_CHARS:,}); the stack deploys only where it was raised",
            )
        )
    wildcard = False
    for value in _key_values(pattern):
        if isinstance(value, Mapping) and isinstance(value.get("wildcard"), str):
            wildcard = True
            score = wildcard_complexity(value["wildcard"])
            if score > MAX_WILDCARD_COMPLEXITY:
                errors.append(
                    resource_error(
                        processor,
                        "Suffix",
                        f"makes the rule's wildcard pattern too complex for EventBridge (score "
                        f"{score}, the transform allows {MAX_WILDCARD_COMPLEXITY}): a Suffix "
                        "that repeats its own start (such as aaaa or abab) keeps many partial "
                        'matches open at once, which EventBridge refuses as "Rule is too '
                        'complex" (DESIGN.md, "Limits")',
                    )
                )
    return errors, warnings, wildcard


def _key_values(pattern: Mapping[str, Any]) -> list[Any]:
    detail = pattern.get("detail")
    obj = detail.get("object") if isinstance(detail, Mapping) else None
    keys = obj.get("key") if isinstance(obj, Mapping) else None
    return list(keys) if isinstance(keys, list) else []


def wildcard_complexity(wildcard: str) -> int:
    """event-ruler's complexity of a ``<prefix>*<suffix>`` wildcard value.

    The prefix is matched deterministically. After the ``*``, the matcher is in the
    ``*`` loop and in every state ``k`` whose first ``k`` bytes of the suffix end the
    input read so far; the most such states at once is one more than the longest chain
    of borders (prefixes that are also suffixes) of a prefix of the suffix. ``.csv``
    scores 2; ``aaaa`` scores 5.
    """
    star = _unescaped_stars(wildcard).find("*")
    data = _unescape(wildcard[star + 1 :]).encode() if star >= 0 else b""
    # KMP: border[i] is the longest proper border of data[: i + 1]; chain[i] counts the
    # borders of data[: i + 1], itself included.
    border = [0] * len(data)
    chain = [0] * len(data)
    for i in range(len(data)):
        k = border[i - 1] if i else 0
        while k and data[i] != data[k]:
            k = border[k - 1]
        if i and data[i] == data[k]:
            k += 1
        border[i] = k
        chain[i] = 1 + (chain[k - 1] if k else 0)
    return 1 + max(chain, default=0)


def _unescaped_stars(wildcard: str) -> str:
    # Escaped characters ("\\*", "\\\\") are blanked so that only a real "*" remains.
    return re.sub(r"\\.", "__", wildcard)


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)
