"""The simulated account quota (cli/private_s3_processor_cli/quota.py): Fargate's launch
bucket, RunTask's call rate and the concurrent-vCPU quota, on a simulated clock."""

from __future__ import annotations

import threading

import pytest
from private_s3_processor_cli.quota import (
    DEFAULT_VCPU_QUOTA,
    VCPU_REASON,
    Quota,
    QuotaLimits,
    Refusal,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def quota(clock: Clock, **limits: float) -> Quota:
    return Quota(QuotaLimits(**limits), clock)  # type: ignore[arg-type]


def test_defaults_are_the_documented_ones() -> None:
    limits = QuotaLimits()
    assert (limits.launch_burst, limits.launch_rate, limits.run_task_rate) == (100, 20.0, 20.0)
    assert limits.vcpu_quota == DEFAULT_VCPU_QUOTA == 6.0


def test_run_task_rate_throttles_the_21st_call_in_one_second() -> None:
    clock = Clock()
    q = quota(clock, vcpu_quota=1000)
    answers = [q.run_task(0.25) for _ in range(21)]
    assert answers[:20] == [None] * 20
    assert answers[20] == Refusal("throttling", "Rate exceeded")
    assert q.counts["throttled_calls"] == 1 and q.counts["launched"] == 20
    clock.now = 0.05  # one call's worth of refill at 20/s
    assert q.run_task(0.25) is None
    assert q.run_task(0.25) is not None


def test_launch_bucket_bursts_then_refills_at_its_rate() -> None:
    """Service tasks make no RunTask calls: only the launch bucket limits them."""
    clock = Clock()
    q = quota(clock, vcpu_quota=1000)
    launched = sum(q.run_task(0.25, service=True) is None for _ in range(150))
    assert launched == 100
    assert q.counts["throttled_launches"] == 50 and q.counts["calls"] == 0
    clock.now = 1.0
    assert sum(q.run_task(0.25, service=True) is None for _ in range(50)) == 20
    assert q.next_launch_in(service=True) == pytest.approx(0.05)


def test_sustained_launches_are_twenty_a_second() -> None:
    """10,000 one-task RunTask calls, retried as soon as allowed: ~500 s."""
    clock = Clock()
    q = quota(clock, vcpu_quota=1e9)
    done = 0
    while done < 10_000:
        if q.run_task(0.25) is None:
            done += 1
        else:
            clock.now += q.next_launch_in()
    assert 490 < clock.now < 500


def test_vcpu_quota_answers_failures_and_frees_on_stop() -> None:
    clock = Clock()
    q = quota(clock)  # 6 vCPUs: 24 tasks of 0.25
    for _ in range(24):
        clock.now += 0.1  # under RunTask's 20 calls a second
        assert q.run_task(0.25) is None
    refused = q.run_task(0.25)
    assert refused == Refusal("failures", VCPU_REASON)
    assert q.counts["vcpu"] == 1 and q.running_vcpus == pytest.approx(6.0)
    q.task_stopped(0.25)
    clock.now = 1.0
    assert q.run_task(0.25) is None


def test_a_refused_launch_takes_no_launch_token() -> None:
    clock = Clock()
    q = quota(clock, vcpu_quota=0.25, launch_burst=2)
    assert q.run_task(0.25, service=True) is None
    assert q.run_task(0.25, service=True) == Refusal("failures", VCPU_REASON)
    q.task_stopped(0.25)
    assert q.run_task(0.25, service=True) is None  # the second token is still there


def test_thread_safe_under_contention() -> None:
    clock = Clock()
    q = quota(clock, vcpu_quota=1e9, launch_burst=1000, run_task_rate=1000)
    results: list[Refusal | None] = []
    lock = threading.Lock()

    def launch() -> None:
        for _ in range(200):
            answer = q.run_task(1)
            with lock:
                results.append(answer)

    threads = [threading.Thread(target=launch) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is None for r in results) == 1000 == q.counts["launched"]
    assert q.running_vcpus == pytest.approx(1000)


@pytest.mark.parametrize(
    "limits",
    [
        {"launch_burst": 0},
        {"launch_rate": -1},
        {"vcpu_quota": float("nan")},
        {"run_task_rate": "x"},
    ],
)
def test_hostile_limits_are_refused_in_one_line(limits: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="quota") as info:
        QuotaLimits(**limits)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)


def test_hostile_vcpus_are_refused() -> None:
    q = quota(Clock())
    for bad in (0, -1, float("inf"), True):
        with pytest.raises(ValueError, match="vCPUs"):
            q.run_task(bad)
    with pytest.raises(ValueError, match="only 0 are held"):
        q.task_stopped(0.25)
