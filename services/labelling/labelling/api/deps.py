"""What labelling's routes share beyond the runtime's edge (``cites_runtime.http``)."""

from __future__ import annotations

from cites_runtime.http import Caller

from ..settings import LabellingSettings

__all__ = ["settings"]


def settings(caller: Caller) -> LabellingSettings:
    """The service's settings (the runtime holds them, typed by the service)."""
    s: LabellingSettings = caller.runtime.settings
    return s

