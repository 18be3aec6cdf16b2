"""The price table ``cost`` reads (``prices/us-east-1.json`` or ``--prices FILE``), and
``CostError``, which every part of ``cost`` raises for what it cannot price."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path


class CostError(Exception):
    """A template or price table the command cannot price; the message says why."""


@dataclass(frozen=True)
class Prices:
    region: str
    date: str
    hours_per_month: float
    endpoint_az_hour: float
    endpoint_gb: float
    fargate: Mapping[str, Mapping[str, float]]
    fargate_minimum_s: float
    transition: float
    alarm_month: float  # per alarm *metric* (CloudWatch pricing)
    sqs_request: float  # one SQS API request (standard queue)

    @classmethod
    def load(cls, path: Path | None = None) -> Prices:
        where = str(path) if path else "the bundled us-east-1 table"
        try:
            text = (
                path.read_text(encoding="utf-8")
                if path
                else resources.files(__package__).joinpath("prices/us-east-1.json").read_text()
            )
            data = json.loads(text)
            return cls(
                region=str(data["region"]),
                date=str(data["date"]),
                hours_per_month=float(data["hours_per_month"]),
                endpoint_az_hour=float(data["interface_endpoint_per_az_hour"]),
                endpoint_gb=float(data["interface_endpoint_per_gb"]),
                fargate={
                    arch: {k: float(rates[k]) for k in ("per_vcpu_hour", "per_gb_hour")}
                    for arch, rates in data["fargate"].items()
                },
                fargate_minimum_s=float(data["fargate_minimum_seconds"]),
                transition=float(data["step_functions_per_transition"]),
                alarm_month=float(data["cloudwatch_alarm_per_month"]),
                sqs_request=float(data["sqs_per_million_requests"]) / 1_000_000,
            )
        except OSError as exc:
            raise CostError(f"price table {where}: {exc}") from None
        except json.JSONDecodeError as exc:
            raise CostError(f"price table {where}: not JSON ({exc})") from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CostError(f"price table {where}: missing or invalid entry {exc}") from None
