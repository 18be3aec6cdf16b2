"""What ``cost`` computes and how it is shown: the fixed lines, each task's cost per
processed file, the original design's fixed cost beside them, as the table (``render``)
or as JSON (``Estimate.as_json``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .cost_prices import Prices

# The original design: five interface endpoints in two AZs, one VPC per pipeline.
ORIGINAL_ENDPOINTS = 5
ORIGINAL_AZS = 2


@dataclass
class Line:
    item: str
    quantity: str
    monthly: float


@dataclass
class Part:
    """One line of a file's cost: what, how much of it, $ per file."""

    item: str
    quantity: str
    amount: float


@dataclass
class TaskCost:
    processor: str
    vcpu: float
    gb: float
    architecture: str
    orchestrated: bool
    fargate: float  # $ per file: every Fargate part
    transitions: float
    state_transitions: int = 0  # per file processed first time (Orchestrated)
    delivery: str = "Direct"
    parts: list[Part] = field(default_factory=list)  # what per_file adds up
    rate_s: float = 0.0  # $ per task-second of this size and architecture

    @property
    def per_file(self) -> float:
        return sum(part.amount for part in self.parts)


@dataclass
class Estimate:
    prices: Prices
    duration_s: float
    fixed: list[Line] = field(default_factory=list)
    tasks: list[TaskCost] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def fixed_monthly(self) -> float:
        return sum(line.monthly for line in self.fixed)

    @property
    def pipelines(self) -> int:
        """What the original design would need for this template: a pipeline per task."""
        return max(1, len(self.tasks))

    def original_monthly(self, pipelines: int) -> float:
        """The original design's fixed cost for ``pipelines`` pipelines."""
        p = self.prices
        return (
            pipelines * ORIGINAL_ENDPOINTS * ORIGINAL_AZS * p.hours_per_month * p.endpoint_az_hour
        )

    def all_in(self, files: int) -> tuple[float, float, float]:
        """(fixed, variable, total) a month with ``files`` files per processor."""
        variable = sum(t.per_file for t in self.tasks) * files
        return self.fixed_monthly, variable, self.fixed_monthly + variable

    def as_json(self, files: int | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "prices": {"region": self.prices.region, "date": self.prices.date},
            "fixed_monthly": round(self.fixed_monthly, 6),
            "fixed": [line.__dict__ for line in self.fixed],
            "duration_seconds": self.duration_s,
            "per_file": [{**asdict(t), "per_file": round(t.per_file, 12)} for t in self.tasks],
            "original_design_fixed_monthly": round(self.original_monthly(self.pipelines), 6),
            "notes": self.notes,
        }
        if files is not None:
            out["files_per_month"] = files
            out["variable_monthly"] = {
                t.processor: round(t.per_file * files, 6) for t in self.tasks
            }
            if files:
                total = self.all_in(files)[2]
                out["all_in_per_file"] = total / (files * max(1, len(self.tasks)))
        return out


def render(e: Estimate, files: int | None) -> str:
    p = e.prices
    lines = [
        f"Prices: {p.region}, {p.date} (on-demand list prices; see the price table's sources)",
        "",
    ]
    lines.append("Fixed monthly cost:")
    for line in e.fixed:
        lines.append(f"  {line.item:<22} {line.quantity:<58} ${line.monthly:,.2f}")
    lines.append(f"  {'total':<22} {'':<58} ${e.fixed_monthly:,.2f}")
    lines += ["", f"Per processed file ({e.duration_s:g} s of processing each):"]
    for t in e.tasks:
        lines.append(
            f"  {t.processor} ({t.delivery}), {t.vcpu:g} vCPU, {t.gb:g} GB, {t.architecture}:"
        )
        for part in t.parts:
            lines.append(f"    {part.item:<24} {part.quantity:<64} ${part.amount:.9f}")
        lines.append(
            f"    {'per file':<24} {'':<64} ${t.per_file:.9f}"
            + (f"; {files:,} files/month: ${t.per_file * files:,.2f}" if files else "")
        )
    if files:
        fixed, variable, total = e.all_in(files)
        count = files * len(e.tasks)
        lines.append(
            f"  All in, {files:,} files a month per processor: ${fixed:,.2f} fixed + "
            f"${variable:,.2f} variable = ${total:,.2f} a month, ${total / count:.9f} per file"
        )
    pipelines = e.pipelines
    original = e.original_monthly(pipelines)
    lines += [
        "",
        f"Original design ({ORIGINAL_ENDPOINTS} interface endpoints in {ORIGINAL_AZS} AZs, one "
        f"VPC per pipeline), {pipelines} pipeline{'s' if pipelines > 1 else ''}: "
        f"${original:,.2f} a month fixed; this template: ${e.fixed_monthly:,.2f}"
        + (f" ({e.fixed_monthly / original:.0%})" if original else ""),
        "",
        *(f"Note: {n}" for n in e.notes),
    ]
    return "\n".join(lines) + "\n"
