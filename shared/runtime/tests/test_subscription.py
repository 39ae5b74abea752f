"""The FastStream subscriber the runtime binds a consumer to: offsets are committed after
the batch's effects, and a batch that did not finish is rewound, partition by partition,
without hiding why it did not finish (a cancellation stays a cancellation)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import TopicPartition

from cites_runtime.app import subscribe
from cites_runtime.consumer import EventConsumer
from cites_runtime.settings import ServiceSettings


@dataclass
class Record:
    topic: str
    partition: int
    offset: int


@dataclass
class Consumer:
    seeks: list[tuple[TopicPartition, int]] = field(default_factory=list)

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.seeks.append((partition, offset))


@dataclass
class Message:
    raw_message: list[Record]
    consumer: Consumer
    acked: bool = False

    async def ack(self) -> None:
        self.acked = True

    async def nack(self) -> None:  # FastStream's own fails on a list: never called
        raise AttributeError("'list' object has no attribute 'topic'")


class Broker:
    def subscriber(self, *topics: str, **options: Any) -> Callable[[Any], Any]:
        def keep(fn: Callable[..., Coroutine[Any, Any, None]]) -> Any:
            self.consume = fn
            return fn
        return keep


class Runner:
    def __init__(self, outcome: BaseException | None):
        self.outcome = outcome
        self.consumer = EventConsumer("tally")

    async def process_batch(self, records: list[Record]) -> None:
        if self.outcome is not None:
            raise self.outcome


BATCH = [Record("t.things", 0, 7), Record("t.things", 1, 3), Record("t.things", 0, 8),
         Record("t.things", 1, 4)]


@pytest.mark.parametrize("outcome", [asyncio.CancelledError(), RuntimeError("dlq away")],
                         ids=["cancelled", "failed"])
async def test_an_unfinished_batch_is_rewound_and_its_failure_kept(
        outcome: BaseException) -> None:
    broker, message = Broker(), Message(list(BATCH), Consumer())
    subscribe(broker, Runner(outcome), ServiceSettings())  # type: ignore[arg-type]
    with pytest.raises(type(outcome)):
        await broker.consume(message)
    assert sorted(message.consumer.seeks) == [(TopicPartition("t.things", 0), 7),
                                              (TopicPartition("t.things", 1), 3)]
    assert not message.acked


async def test_a_finished_batch_is_acknowledged() -> None:
    broker, message = Broker(), Message(list(BATCH), Consumer())
    subscribe(broker, Runner(None), ServiceSettings())  # type: ignore[arg-type]
    await broker.consume(message)
    assert message.acked and message.consumer.seeks == []
