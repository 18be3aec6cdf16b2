"""Scale limits, and the transform's speed beside SAM's as a ratio measured in one run
(the figures themselves are in BENCHMARKS.md, from `make bench`)."""

from __future__ import annotations

import os
import time

import pytest
from private_s3_processor import ExpansionError
from private_s3_processor.delivery import MODES
from private_s3_processor.rules import INTERFACE_ENDPOINTS, MAX_RESOURCES, MAX_TEMPLATE_BYTES

from bench.transform import (
    DEFAULT_DELIVERY,
    context,
    processors_template,
    sam_template,
    sam_translate,
    scale,
    size,
    warm,
)

# The shared network (2 AZs, all endpoints) and the cluster.
SHARED_RESOURCES = 16


def shared_resources(delivery: str) -> int:
    """The shared network and cluster of processors of one mode: one more endpoint for each
    that the mode needs beyond the All set (Queued: sqs)."""
    extra = set(MODES[delivery].interface_endpoints) - set(INTERFACE_ENDPOINTS["All"])
    return SHARED_RESOURCES + len(extra)


def test_forty_processors_fit_in_one_stack_and_forty_one_do_not() -> None:
    per = MODES[DEFAULT_DELIVERY].resources_per_processor
    resources, bytes_ = size(processors_template(40))
    assert resources == SHARED_RESOURCES + per * 40 <= MAX_RESOURCES
    assert bytes_ < MAX_TEMPLATE_BYTES / 2
    with pytest.raises(ExpansionError, match=f"{SHARED_RESOURCES + per * 41} resources"):
        size(processors_template(41))


@pytest.mark.parametrize("delivery", list(MODES))
def test_scale_search_finds_each_modes_limit(delivery: str) -> None:
    """The expansion has the resources the mode declares, and the search finds the most
    processors CloudFormation's resource limit allows."""
    mode = MODES[delivery]
    shared = shared_resources(delivery)
    found = scale(delivery)
    assert (found.shared_resources, found.per_processor) == (shared, mode.resources_per_processor)
    assert found.limit == "resources"
    assert found.max_processors == (MAX_RESOURCES - shared) // mode.resources_per_processor
    assert found.at_max[0] == shared + mode.resources_per_processor * found.max_processors


# How many processors of each mode one stack holds (README, "Cost and scale"): the resource
# limit binds first in every mode.
FIT = {"Direct": 40, "Orchestrated": 34, "Queued": 26}


@pytest.mark.parametrize("delivery", list(MODES))
def test_how_many_processors_of_each_mode_fit_in_one_stack(delivery: str) -> None:
    """Queued: 18 resources each (no events role; the queue and its policy, the service,
    the scalable target, two policies and two alarms), 17 shared (the sqs endpoint):
    (500 - 17) // 18 = 26."""
    assert scale(delivery).max_processors == FIT[delivery]


def test_expansion_is_faster_than_sam_per_output_resource(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A ratio in one run, not a timing: generous (BENCHMARKS.md has the measured ratio).
    The suite runs on every core (pytest-xdist), so another test's load comes and goes:
    each side is timed in this process's CPU time, which waiting for a core does not
    inflate (wall time under load measured 0.76 where a quiet run gives 1.29), the two
    sides alternate, and each keeps its fastest call."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", os.environ.get("AWS_DEFAULT_REGION", "eu-west-1"))
    from private_s3_processor import expand

    ctx = context()
    ours, sam = [], []
    for _ in range(5):
        ours.append(warm(lambda t: expand(t, ctx), processors_template(40), 1, time.process_time))
        sam.append(warm(sam_translate, sam_template(40), 1, time.process_time))
    (ours_ms, ours_resources), (sam_ms, sam_resources) = min(ours), min(sam)
    assert (sam_ms / sam_resources) / (ours_ms / ours_resources) > 1.0
