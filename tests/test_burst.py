"""The burst benchmark (bench/burst.py) on a small burst: every upload ends in exactly
one outcome in each mode, and Queued meets the targets of issue 14. No timings: the
simulation runs in simulated seconds."""

from __future__ import annotations

from dataclasses import replace

import pytest
from private_s3_processor.rules import QUEUED_DEFAULTS
from private_s3_processor_cli.cost_prices import Prices
from private_s3_processor_cli.quota import QuotaLimits

from bench.burst import MODES, Pricing, expanded, run_mode, targets
from bench.burst_sim import Setup

SETUP = Setup(uploads=500, arrival_s=20.0)


@pytest.fixture(scope="module")
def pricing() -> Pricing:
    return Pricing(expanded("Direct"), Prices.load())


@pytest.mark.parametrize("mode", MODES)
def test_every_upload_has_one_outcome(mode: str, pricing: Pricing) -> None:
    result = run_mode(mode, SETUP, pricing)
    assert sum(result.counts.values()) == SETUP.uploads
    assert set(result.counts) <= {"processed", "dead-lettered", "lost"}
    assert result.launches >= 1
    assert result.billed_seconds >= result.task_seconds > 0


def test_queued_meets_the_targets(pricing: Pricing) -> None:
    """5,000 uploads: the task-seconds target holds once a burst outweighs the idle tail
    (MaxTasks x IdleSeconds); 500 do not (the next test)."""
    setup = replace(SETUP, uploads=5_000, arrival_s=50.0)
    result = run_mode("Queued", setup, pricing)
    met = targets(result, setup, QUEUED_DEFAULTS["MaxTasks"])
    assert all(ok for _, _, ok in met), met
    assert result.counts["processed"] == setup.uploads
    assert result.timeline[-1][1] == 0 and result.idle_s is not None  # back to zero


def test_a_small_burst_pays_the_idle_tail(pricing: Pricing) -> None:
    """500 uploads: nothing lost, but the idle tail outweighs the work (reported, not
    hidden: the task-seconds target is not met)."""
    result = run_mode("Queued", SETUP, pricing)
    met = dict((name.split(" ")[0], ok) for name, _, ok in targets(result, SETUP, 10))
    assert result.counts["processed"] == SETUP.uploads
    assert met["task-seconds"] is False


def test_one_task_per_upload_meets_the_vcpu_quota(pricing: Pricing) -> None:
    """6 vCPUs hold 24 tasks of 0.25: Direct loses what RunTask answers with failures[],
    Orchestrated dead-letters what its launch budget cannot place."""
    direct = run_mode("Direct", SETUP, pricing)
    orchestrated = run_mode("Orchestrated", SETUP, pricing)
    assert direct.counts["lost"] == direct.refusals["vcpu"] > 0
    assert direct.counts["dead-lettered"] == 0
    assert orchestrated.counts["dead-lettered"] > 0 and orchestrated.counts["lost"] == 0


def test_a_quota_large_enough_loses_nothing(pricing: Pricing) -> None:
    roomy = replace(SETUP, limits=QuotaLimits(vcpu_quota=10_000))
    for mode in MODES:
        result = run_mode(mode, roomy, pricing)
        assert result.counts["processed"] == SETUP.uploads, (mode, result.counts)


def test_the_same_seed_gives_the_same_figures(pricing: Pricing) -> None:
    first, second = (run_mode("Direct", SETUP, pricing) for _ in range(2))
    assert (first.counts, first.launches, first.drain_s) == (
        second.counts,
        second.launches,
        second.drain_s,
    )
