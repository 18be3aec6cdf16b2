"""What ``cost`` computes and how it is shown: the fixed lines, each task's cost per
processed file, the original design's fixed cost beside them, as the table (``render``)
or as JSON (``Estimate.as_json``)."""

from __future__ import annotations

from dataclasses import dataclass, field
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
class TaskCost:
    processor: str
    vcpu: float
    gb: float
    architecture: str
    orchestrated: bool
    fargate: float
    transitions: float
    state_transitions: int = 0  # per file processed first time (Orchestrated)

    @property
    def per_file(self) -> float:
        return self.fargate + self.transitions


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

    def as_json(self, files: int | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "prices": {"region": self.prices.region, "date": self.prices.date},
            "fixed_monthly": round(self.fixed_monthly, 6),
            "fixed": [line.__dict__ for line in self.fixed],
            "duration_seconds": self.duration_s,
            "per_file": [{**t.__dict__, "per_file": round(t.per_file, 8)} for t in self.tasks],
            "original_design_fixed_monthly": round(self.original_monthly(self.pipelines), 6),
            "notes": self.notes,
        }
        if files is not None:
            out["files_per_month"] = files
            out["variable_monthly"] = {
                t.processor: round(t.per_file * files, 6) for t in self.tasks
            }
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
    lines += ["", f"Per processed file (task duration {e.duration_s:g} s):"]
    for t in e.tasks:
        extra = f" + ${t.transitions:.6f} Step Functions" if t.orchestrated else ""
        lines.append(
            f"  {t.processor:<22} {t.vcpu:g} vCPU, {t.gb:g} GB, {t.architecture}: "
            f"${t.fargate:.6f} Fargate{extra} = ${t.per_file:.6f}"
            + (f"; {files:,} files/month: ${t.per_file * files:,.2f}" if files else "")
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
