"""Delivery modes: one module per value of the ``Delivery`` property, and the registry.

A mode implements :class:`DeliveryMode` (``base.py``); ``MODES`` maps each ``Delivery``
value to it. Its keys are ``rules.DELIVERY_MODES``, the values the property accepts, in
the same order (tests/test_delivery_seam.py checks both).
"""

from __future__ import annotations

from ..spec import Processor
from .base import COMMON_RESOURCES, DeliveryMode
from .direct import Direct
from .orchestrated import Orchestrated
from .queued import Queued

MODES: dict[str, DeliveryMode] = {mode.name: mode for mode in (Direct(), Orchestrated(), Queued())}


def mode_of(p: Processor) -> DeliveryMode:
    """The processor's delivery mode (its ``Delivery`` passed validation against
    ``rules.DELIVERY_MODES``, the registry's keys)."""
    return MODES[p.props.Delivery]


__all__ = ["COMMON_RESOURCES", "MODES", "DeliveryMode", "mode_of"]
