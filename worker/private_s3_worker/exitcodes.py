"""Exit codes: how ECS task-state events tell operators what happened to an upload."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented in the README ("Exit codes"); never renumber."""

    #: The object was processed and its outputs written.
    PROCESSED = 0
    #: This exact object (same ETag) was processed before; nothing was written.
    SKIPPED = 10
    #: The object is gone: deleted, or overwritten since the event (ETag/version no longer
    #: there). Nothing to do for this event; the newer object has its own event.
    GONE = 11
    #: No version and no delete marker of this key exists in the bucket: the key never
    #: existed there: EventBridge changed it in transit (Direct delivery of a key holding
    #: a backslash, README "Keys"); ``private-s3-processor redrive`` recovers the true key
    #: from the version ID. sysexits' EX_NOINPUT. A failure: the upload is dead-lettered.
    UNKNOWN_KEY = 66
    #: Processing failed (the processor raised, S3 kept failing after retries, or with
    #: INTEGRITY=s3 the bytes read did not match S3's stored checksum).
    #: Nothing was written; the event can be re-driven.
    FAILED = 70
    #: Bad configuration: a missing or malformed input, or an unloadable PROCESSOR.
    CONFIG = 78
