"""Test support: real infrastructure resolution and per-test isolation (pytest plugin)."""

from .infra import Infra, resolve_infra
from .kafka import delete_topics, read_topic, wait_caught_up

__all__ = ["Infra",
    "delete_topics", "read_topic", "resolve_infra", "wait_caught_up"]
