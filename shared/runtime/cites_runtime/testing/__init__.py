"""Test support: real infrastructure resolution and per-test isolation (pytest plugin)."""

from .infra import Infra, resolve_infra
from .kafka import read_topic, wait_caught_up

__all__ = ["Infra", "read_topic", "resolve_infra", "wait_caught_up"]
