"""A Queued processor's simulated service (``local/service.py``) on a clock the test
moves: what the alarms see when the flow's loop falls behind the simulated minutes."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

from private_s3_processor_cli.local.launches import LaunchError
from private_s3_processor_cli.local.service import Service
from private_s3_processor_cli.scaling import Scaler
from private_s3_processor_cli.templates import expand_document

WAITING = 50  # messages the queue holds throughout: never idle
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker:1"


class Queue:
    """SQS's answer about a queue that always holds WAITING messages."""

    def get_queue_attributes(self, **_: Any) -> dict[str, Any]:
        return {
            "Attributes": {
                "ApproximateNumberOfMessages": str(WAITING),
                "ApproximateNumberOfMessagesNotVisible": "0",
            }
        }


class NoLaunches:
    """ECS where no task starts (the test watches the scaler, not tasks)."""

    def __init__(self) -> None:
        self.aws = {"sqs": Queue()}

    def launch(self, *_: Any, **__: Any) -> str:
        raise LaunchError("throttling", "td", "not in this test")


def test_minutes_the_loop_missed_keep_the_queue_as_last_seen() -> None:
    """The machine stalls for seven simulated minutes (one look at the queue, then the
    clock jumps): each missed minute must read the backlog SQS would have published, not
    an empty minute, which the idle alarm (five periods) would take for idle and scale the
    service to 0 with 50 messages waiting."""
    template = {
        "Transform": "PrivateS3Processor",
        "Resources": {
            "Jobs": {
                "Type": "PrivateS3Processor",
                "Properties": {"Image": IMAGE, "Delivery": "Queued"},
            }
        },
    }
    expanded = expand_document(template, region="eu-west-1", account_id="123456789012")
    scaler = Scaler.from_template(expanded, "Jobs", {"AWS::StackName": "s"})
    now = [0.0]
    lock = threading.Lock()

    def clock() -> float:
        with lock:
            return now[0]

    p = SimpleNamespace(
        scaler=scaler, logical_id="Jobs", queue="q", network=None, service="svc", container={}
    )
    said: list[str] = []
    ticks: list[tuple[float, int]] = []  # (simulated minute, desired count after it)
    tick = scaler.tick

    def recorded(now: float, datapoints: Any, current: int) -> int:
        desired = tick(now, datapoints, current)
        ticks.append((now, desired))
        return desired

    scaler.tick = recorded  # type: ignore[method-assign]
    service = Service(p, NoLaunches(), None, lambda *_: None, said.append, clock, 0.001)  # type: ignore[arg-type]
    try:

        def ticks_until(simulated: float) -> None:
            with lock:
                now[0] = simulated
            deadline = time.monotonic() + 30
            while not (ticks and ticks[-1][0] + 60 > simulated) and time.monotonic() < deadline:
                time.sleep(0.01)

        ticks_until(61.0)  # the first minute, seen
        ticks_until(61.0 + 7 * 60)  # seven minutes at once: the loop was late
    finally:
        service._stop.set()
        service._thread.join()
    assert [at for at, _ in ticks] == [60.0 * n for n in range(1, 9)], ticks
    assert [desired for _, desired in ticks] == [10] * 8, said
    assert not any("IdleAlarm is ALARM" in line for line in said), said
