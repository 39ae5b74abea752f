"""How a service's process runs: its event loop (uvloop) and its garbage collector.

Both are set for throughput in batches, and measured (docs/benchmarks.md):

- **The collector.** A consumer decodes a batch of events (~65 objects tracked by the
  collector each) and keeps them until the batch commits; with CPython's thresholds
  (700, 10, 10) a batch of 1,000 triggers about a hundred young collections, each walking
  objects that are all still alive, and some full ones walking the whole heap — modules,
  pydantic's validators, the app: tens of thousands of objects that live as long as the
  process. :func:`tune_gc`, run once the service has started, moves that heap to the
  permanent generation (``gc.freeze``: no collection walks it again) and collects the
  young generation after :data:`GC_THRESHOLDS` allocations. Reference counting still
  frees what a batch leaves at once; only cycles wait for a collection.
- **The loop.** uvloop (libuv) instead of asyncio's own: its callbacks, sockets and
  transports cost less per round trip; asyncpg and aiokafka run on it unchanged.
  :func:`run` runs a coroutine on it; ``serve`` has uvicorn use it.
"""

from __future__ import annotations

import gc
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop

__all__ = ["CPYTHON_GC_THRESHOLDS", "GC_THRESHOLDS", "run", "tune_gc"]

T = TypeVar("T")

GC_THRESHOLDS = (150_000, 20, 100)
"""(allocations before a young collection, young collections before a middle one, middle
ones before a full one): a batch's objects are mostly freed by reference counting before
a young collection comes, and a full one rarely walks what survived."""

CPYTHON_GC_THRESHOLDS = (700, 10, 10)
"""CPython's own: for a service whose work leaves reference cycles (notifications: a
rendered mail's message and header objects), which batch thresholds let pile up in the old
generations until a rare full collection (its memory, measured with both:
docs/benchmarks.md, "RSS per service"). A service chooses in its ``ServiceDefinition``."""

_frozen = False


def tune_gc(thresholds: tuple[int, int, int] = GC_THRESHOLDS) -> None:
    """Freeze what start-up allocated (once per process: the first service started; later
    starts, e.g. a test's many, only set the thresholds) and set the thresholds."""
    global _frozen
    if not _frozen:
        gc.collect()  # what start-up left as garbage is not kept for good
        gc.freeze()
        _frozen = True
    gc.set_threshold(*thresholds)


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on uvloop."""
    return uvloop.run(main)
