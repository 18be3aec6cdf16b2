"""The delivery modes the local flow plays, one module each, named like the macro's
(``macros/private_s3_processor/delivery/``). The session asks a processor's mode here
and never branches on its name: a new mode is one module and one entry in ``MODES``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..model import LocalError, Processor
from ..stack import deployed
from .base import Mode, Rows, Services
from .direct import Direct
from .orchestrated import Orchestrated
from .queued import Queued

MODES: dict[str, type[Mode]] = {mode.name: mode for mode in (Direct, Orchestrated, Queued)}

__all__ = ["MODES", "Mode", "Rows", "Services", "processors_of"]


def processors_of(
    template: dict[str, Any],
    physical: Mapping[str, str],
    aws: Mapping[str, Any],
    values: Mapping[str, Any],
) -> dict[str, Processor]:
    """Each processor's deployed parts, read back from the emulator: the parts every
    mode has (``stack.deployed``), then those of its mode."""
    found = {}
    for part in deployed(template, physical, aws):
        modes = [mode for mode in MODES.values() if mode.owns(template, part)]
        if len(modes) != 1:
            raise LocalError(
                f"processor {part.name}: the local flow cannot tell its delivery mode "
                f"({', '.join(MODES)}) from its rule's target"
            )
        found[part.name] = modes[0].read_back(aws, template, part, physical, values)
    return found
