"""1,000 uploads in ``Delivery: Queued`` through the local flow, keys holding ``"``,
``\\`` and control characters: each is processed exactly once (one manifest, one
PROCESSED outcome; a duplicate delivery may only end SKIPPED).

The key travels inside the message body (the whole event, JSON-escaped by the
producer), so nothing EventBridge substitutes can alter it. moto cannot store a key
holding LF (tests/test_keys.py), so that one class is left out here."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from private_s3_processor_cli.local.delivery.queued import Queued
from private_s3_processor_cli.local.session import deploy

from tests.conftest import quiet

UPLOADS = 1000
TEMPLATE = """
Transform: PrivateS3Processor
Resources:
  Load:
    Type: PrivateS3Processor
    Properties:
      Image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/w:1
      Prefix: in/
      OutputPrefix: out/
      Delivery: Queued
      Environment:
        PROCESSOR: tests.worker_processors:upper
"""
# Every class Direct cannot carry (README, "Keys"), NUL included: in queue mode the
# key never passes through a process environment.
AWKWARD = ['say "hi"', "back\\slash", "lit\\t", "lit\\u0041", "tab\there", "ctl\x01", "nul\x00"]


def keys() -> list[str]:
    return [f"in/{i:04d} {AWKWARD[i % len(AWKWARD)]}.csv" for i in range(UPLOADS)]


def test_a_thousand_awkward_keys_each_processed_once(emulator: str, tmp_path: Path) -> None:
    template = tmp_path / "load.yaml"
    template.write_text(TEMPLATE)
    body = tmp_path / "body.csv"
    body.write_text("a,b\n1,2\n")
    with deploy(emulator, template, {}, quiet, time_scale=0.01) as session:
        target = session.processors["Load"]
        for key in keys():
            session.upload(body, key, target)
            session.dispatch()
        session.settle()
        mode = session.mode("Queued")
        assert isinstance(mode, Queued)
        outcomes = mode.outcomes
    rows = session.results()
    assert [r.key for r in rows] == keys()
    # The status of any other outcome says why (which check of the flow gave up on it).
    others = [(r.key, r.outcome, r.status) for r in rows if r.outcome != "processed"]
    assert Counter(r.outcome for r in rows) == {"processed": UPLOADS}, others
    assert Counter(r.status for r in rows) == {"processed": UPLOADS}
    # One PROCESSED outcome per upload; anything more for it was a duplicate, SKIPPED.
    processed = Counter(
        ident[1] for ident, outcome in outcomes.elements() if outcome == "processed"
    )
    assert processed == Counter(keys())
    assert {o for _, o in outcomes} <= {"processed", "skipped"}
    # One manifest per upload in the bucket, under that upload's own key.
    s3 = session.aws["s3"]
    listed = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=target.bucket, Prefix="out/"
        )
        for o in page.get("Contents", [])
    ]
    manifests = [k for k in listed if k.endswith("/manifest.json")]
    assert len(manifests) == UPLOADS
    for row in rows:
        assert [o for o in row.outputs if o.endswith("/manifest.json")] == [
            m for m in manifests if m.startswith(f"out/{row.key}/")
        ], row.key
    # Nothing was dead-lettered and every worker stopped cleanly at the end.
    assert session.notes and "exit 0;" in session.notes[0], session.notes
