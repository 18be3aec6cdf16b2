"""The cost per file of a ``Delivery: Queued`` processor: tasks of a service that stay
up while there is work, not a task per file.

Processing: each task keeps ``Concurrency`` objects in flight, so a file costs its
processing time divided by Concurrency in task-seconds. That assumes I/O-bound
objects (fetching and writing to S3 dominate, so the objects in flight overlap); for
CPU-bound objects Concurrency divides nothing, and a note gives that figure too.

Around it, what the service adds (DESIGN.md, "Cost"):

- bursts (``--bursts N`` a month): each starts the tasks the scale-out policy asks
  for, which the backlog alarm computes from the burst seen in one minute (its own
  expression and steps, read from the template); each task is billed from its image
  pull (start-up, ``--startup``) through its share of the burst to the idle tail
  (the idle alarm's datapoints x period), at least Fargate's one-minute minimum;
- files spread evenly (``--bursts 0``, the default): when a file arrives at least
  once per idle window the service never scales in, and the tasks the policy keeps
  for that arrival rate run all month; when files are further apart than that,
  each one is a burst of its own;
- SQS requests: send (EventBridge), receive and delete per file, a visibility
  extension per half visibility timeout of processing, and the empty long polls of
  tasks with nothing to do (one poll per wait time per task).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .cost_prices import CostError, Prices
from .cost_queued_template import QueuedConfig
from .cost_report import Part

# SendMessage (the rule's target), ReceiveMessage, DeleteMessage: each file's own.
REQUESTS_PER_FILE = 3


@dataclass(frozen=True)
class Volume:
    files: int | None  # a month, per processor
    bursts: int  # scale-out bursts a month; 0: spread evenly
    startup_s: float  # billed before a task takes its first message


def queued_parts(
    cfg: QueuedConfig, prices: Prices, rate_s: float, duration_s: float, volume: Volume
) -> tuple[list[Part], list[str]]:
    """The per-file lines of one Queued processor, and notes. ``rate_s``: $ per
    task-second of its size and architecture."""
    c = cfg.concurrency
    work_s = duration_s / c
    beats = math.floor(duration_s / (cfg.visibility_s / 2)) if cfg.visibility_s > 0 else 0
    requests = REQUESTS_PER_FILE + beats
    what = "send, receive, delete" + (f", {beats} visibility extensions" if beats else "")
    parts = [
        Part("Fargate, processing", f"{duration_s:g} s / {c} in flight", work_s * rate_s),
        Part("SQS requests", f"{requests} ({what})", requests * prices.sqs_request),
    ]
    notes = [
        f"{cfg.processor} (Queued): for CPU-bound objects Concurrency does not divide the "
        f"time: processing would be ${duration_s * rate_s:.9f} per file, not "
        f"${work_s * rate_s:.9f}."
    ]
    if not volume.files:
        billed = max(prices.fargate_minimum_s, volume.startup_s + cfg.idle_s)
        notes.append(
            f"{cfg.processor} (Queued): each scale-out burst adds, per task, "
            f"{volume.startup_s:g} s start-up + {cfg.idle_s:g} s idle tail (billed at least "
            f"{prices.fargate_minimum_s:g} s): ${billed * rate_s:.6f}; give --files (and "
            "--bursts) for its share per file."
        )
        return parts, notes
    overhead_s, polling_s, tasks_text = _overhead(cfg, prices, duration_s, work_s, volume)
    files = volume.files
    idle_polls = polling_s / cfg.wait_s
    parts += [
        Part("Fargate, start-up, idle", tasks_text, overhead_s * rate_s / files),
        Part(
            "SQS empty long polls",
            f"{idle_polls / files:.3g} ({cfg.wait_s:g} s polls of idle tasks)",
            idle_polls * prices.sqs_request / files,
        ),
    ]
    return parts, notes


def _overhead(
    cfg: QueuedConfig, prices: Prices, duration_s: float, work_s: float, volume: Volume
) -> tuple[float, float, str]:
    """Task-seconds a month beyond processing, those of them spent polling an empty
    queue (not the start-up), and how they come about."""
    assert volume.files
    files = volume.files
    month_s = prices.hours_per_month * 3600
    if cfg.wait_s <= 0:
        raise CostError(f"{cfg.processor}Queue: short polling (wait 0 s) is not modelled")
    bursts = volume.bursts
    if bursts == 0 and files * cfg.idle_s < month_s:
        bursts = files  # further apart than the idle window: each file scales out alone
    if bursts == 0:
        per_minute = files / (month_s / 60)
        # Little's law: on average rate x time in flight; the policy's step for it.
        tasks = cfg.tasks_for(0.0, per_minute * duration_s / 60, per_minute)
        busy = math.ceil(files * work_s / month_s)
        if busy > cfg.max_tasks:
            raise CostError(
                f"{cfg.processor}: {cfg.max_tasks} tasks cannot keep up with {files:,} files "
                f"a month of {duration_s:g} s each at Concurrency {cfg.concurrency}"
            )
        tasks = max(tasks, busy, 1)
        return (
            tasks * month_s - files * work_s,
            tasks * month_s - files * work_s,
            f"{tasks} task{'s' if tasks > 1 else ''} up all month (a file at least every "
            f"{cfg.idle_s:g} s)",
        )
    per_burst = files / bursts
    tasks = cfg.tasks_for(per_burst, 0.0, per_burst)
    if tasks < 1:
        raise CostError(
            f"{cfg.processor}ScaleOutPolicy starts no task for a burst of {per_burst:g} files"
        )
    run_s = volume.startup_s + per_burst * work_s / tasks + cfg.idle_s
    billed = max(prices.fargate_minimum_s, run_s)
    return (
        bursts * tasks * billed - files * work_s,
        bursts * tasks * cfg.idle_s,
        f"{bursts:,} bursts x {tasks} task{'s' if tasks > 1 else ''} x ({volume.startup_s:g} s "
        f"start + {cfg.idle_s:g} s idle, >= {prices.fargate_minimum_s:g} s)",
    )
