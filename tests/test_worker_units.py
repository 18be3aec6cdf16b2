"""Pure parts of the worker, against independent oracles (hypothesis)."""

from __future__ import annotations

import csv
import io

from hypothesis import given, settings
from hypothesis import strategies as st
from private_s3_worker.api import MAX_OUTPUT_NAME_BYTES
from private_s3_worker.keys import MANIFEST, output_base
from private_s3_worker.manifest import CsvCounter

FIELD = st.text(alphabet=st.sampled_from(list('ab,"\n\r é')), max_size=8)
ROWS = st.lists(st.lists(FIELD, min_size=1, max_size=4), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(rows=ROWS, cuts=st.lists(st.integers(1, 64), max_size=12), final_newline=st.booleans())
def test_csv_counter_agrees_with_the_csv_module(
    rows: list[list[str]], cuts: list[int], final_newline: bool
) -> None:
    out = io.StringIO(newline="")
    csv.writer(out).writerows(rows)
    text = out.getvalue() if final_newline else out.getvalue().removesuffix("\r\n")
    data = text.encode()
    counter = CsvCounter()
    position = 0
    for cut in [*cuts, len(data)]:
        counter.feed(data[position : position + cut])
        position += cut
        if position >= len(data):
            break
    if position < len(data):
        counter.feed(data[position:])
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    got = counter.result(data.endswith(b"\n"), len(data))
    assert got["header"] == (parsed[0] if parsed else [])
    assert got["rows"] == max(len(parsed) - 1, 0)


KEYS = st.text(min_size=1, max_size=400).filter(lambda k: len(k.encode()) <= 1024)


@settings(max_examples=300, deadline=None)
@given(key=KEYS, other=KEYS, prefix=st.sampled_from(["out/", "p" * 300, "ü/" * 100]))
def test_output_keys_fit_and_stay_distinct(key: str, other: str, prefix: str) -> None:
    etag = "9a0364b9e99bb480dd25e1f0284c8555-12"
    base = output_base(prefix, key, etag)
    assert len((base + "n" * MAX_OUTPUT_NAME_BYTES).encode()) <= 1024
    assert base.startswith(prefix) and base.endswith(f"/{etag}/")
    assert len((base + MANIFEST).encode()) <= 1024
    if key != other:
        assert output_base(prefix, other, etag) != base
