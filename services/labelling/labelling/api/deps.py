"""What labelling's routes share beyond the runtime's edge (``cites_runtime.http``)."""

from __future__ import annotations

from datetime import date

from cites_runtime.http import Caller

from ..settings import LabellingSettings

__all__ = ["settings", "today"]


def settings(caller: Caller) -> LabellingSettings:
    """The service's settings (the runtime holds them, typed by the service)."""
    s: LabellingSettings = caller.runtime.settings
    return s


def today(caller: Caller) -> date:
    """Today where the programme runs (the service's clock and time zone): which of a
    label's periods is in force."""
    s = settings(caller)
    return s.clock().astimezone(s.zone).date()
