"""Processors for the benchmark: what the worker's machinery costs without the work."""

from __future__ import annotations

from private_s3_worker import Outputs, SourceObject


def drain(source: SourceObject, outputs: Outputs) -> dict[str, int]:
    """Reads the object and does nothing with it."""
    del outputs
    total = 0
    while chunk := source.body.read(4 * 1024 * 1024):
        total += len(chunk)
    return {"bytes": total}
