"""Test support: real infrastructure resolution and per-test isolation (pytest plugin)."""

from .infra import Infra, resolve_infra
from .kafka import read_topic

__all__ = ["Infra", "read_topic", "resolve_infra"]
