"""Scale limits, and the transform's speed beside SAM's as a ratio measured in one run
(the figures themselves are in BENCHMARKS.md, from `make bench`)."""

from __future__ import annotations

import os

import pytest
from private_s3_processor import ExpansionError
from private_s3_processor.rules import MAX_RESOURCES, MAX_TEMPLATE_BYTES

from bench.transform import (
    context,
    processors_template,
    sam_template,
    sam_translate,
    scale,
    size,
    warm,
)


def test_forty_processors_fit_in_one_stack_and_forty_one_do_not() -> None:
    resources, bytes_ = size(processors_template(40))
    assert resources == 16 + 12 * 40 <= MAX_RESOURCES
    assert bytes_ < MAX_TEMPLATE_BYTES / 2
    with pytest.raises(ExpansionError, match="508 resources"):
        size(processors_template(41))


def test_scale_search_finds_the_limits() -> None:
    direct, orchestrated = scale("Direct"), scale("Orchestrated")
    assert (direct.shared_resources, direct.per_processor, direct.max_processors) == (16, 12, 40)
    assert (orchestrated.per_processor, orchestrated.max_processors) == (14, 34)
    assert direct.limit == orchestrated.limit == "resources"


def test_expansion_is_faster_than_sam_per_output_resource(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A ratio in one run, not a timing: generous (BENCHMARKS.md has the measured ratio)."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", os.environ.get("AWS_DEFAULT_REGION", "eu-west-1"))
    from private_s3_processor import expand

    ctx = context()
    ours_ms, ours_resources = warm(lambda t: expand(t, ctx), processors_template(40), 5)
    sam_ms, sam_resources = warm(sam_translate, sam_template(40), 5)
    assert (sam_ms / sam_resources) / (ours_ms / ours_resources) > 1.0
