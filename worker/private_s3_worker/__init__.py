"""The container that processes one uploaded object (``python -m private_s3_worker``)."""

from .api import Outputs, SourceObject
from .exitcodes import ExitCode

__all__ = ["ExitCode", "Outputs", "SourceObject"]
