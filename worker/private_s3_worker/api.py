"""What a processor receives: the object as a stream, and a place to put outputs.

A processor is any callable ``process(source: SourceObject, outputs: Outputs)``,
named by ``PROCESSOR=package.module:function``. It reads ``source.body`` (a binary
stream; read it in chunks and memory stays flat) and stages outputs with
``outputs.open(name)`` or ``outputs.put(name, data)``. Nothing reaches S3 until it
returns: if it raises, no output is written at all.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .integrity import Integrity

MAX_OUTPUT_NAME_BYTES = 100


class Readable(Protocol):
    """A binary stream: ``read(size)`` returns up to ``size`` bytes, ``b""`` at the end."""

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class SourceObject:
    """The object that triggered the task, pinned to the ETag (and version) of its event.

    ``integrity`` is what the worker checks about ``body`` as it streams (``INTEGRITY``):
    its ``method``, and once the body was read to its end, its ``checksum``. None when a
    processor is called outside the worker."""

    bucket: str
    key: str
    size: int
    etag: str
    version_id: str | None
    content_type: str
    metadata: Mapping[str, str]
    body: Readable
    integrity: Integrity | None = None


@dataclass
class StagedOutput:
    name: str
    content_type: str
    file: IO[bytes]
    size: int = 0


@dataclass
class Outputs:
    """Outputs staged on local disk (``/tmp``), uploaded together after the processor
    returns. Names are relative (``report.json``, ``parts/1.csv``); the worker places
    them under ``OUTPUT_PREFIX`` and a folder of this object."""

    enabled: bool
    staged: dict[str, StagedOutput] = field(default_factory=dict)

    def _check(self, name: str) -> None:
        if not self.enabled:
            raise RuntimeError("this processor has no OUTPUT_PREFIX: it cannot write outputs")
        if (
            not name
            or name.startswith("/")
            or ".." in name.split("/")
            or len(name.encode()) > MAX_OUTPUT_NAME_BYTES
            or name == "manifest.json"
        ):
            raise ValueError(
                f"invalid output name {name!r} (relative, at most "
                f"{MAX_OUTPUT_NAME_BYTES} bytes, not manifest.json)"
            )
        if name in self.staged:
            raise ValueError(f"output {name!r} was already written")

    @contextmanager
    def open(
        self, name: str, content_type: str = "application/octet-stream"
    ) -> Iterator[IO[bytes]]:
        """A binary file to write one output to, streamed to disk."""
        self._check(name)
        # Kept open past this block: the worker uploads it after the processor returns.
        spool: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        yield spool
        spool.flush()
        size = spool.tell()
        spool.seek(0)
        self.staged[name] = StagedOutput(name, content_type, spool, size)

    def put(self, name: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        with self.open(name, content_type) as out:
            out.write(data)

    def close(self) -> None:
        for staged in self.staged.values():
            staged.file.close()


class Processor(Protocol):
    def __call__(self, source: SourceObject, outputs: Outputs) -> Mapping[str, Any] | None:
        """Process one object; may return facts to record in the manifest."""
