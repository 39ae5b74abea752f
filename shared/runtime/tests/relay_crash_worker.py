"""Runs a relay whose process is SIGKILLed right after the broker acked its first batch,
before the rows are marked: the crash window the outbox must survive.

Usage: python relay_crash_worker.py DSN SCHEMA TOPIC_PREFIX BATCH_SIZE, Kafka and its principal
from the environment (``KAFKA_BOOTSTRAP_SERVERS``, ``KAFKA_USERNAME``, ``KAFKA_PASSWORD``,
``KAFKA_SASL_MECHANISM``: :meth:`KafkaAccess.from_env`).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Sequence

import asyncpg

from cites_contracts.access import KafkaAccess
from cites_runtime.kafka import AiokafkaPublisher, OutboundRecord, make_producer
from cites_runtime.relay import OutboxRelay


class DieAfterPublish(AiokafkaPublisher):
    async def enqueue(self, records: Sequence[OutboundRecord]) -> Awaitable[None]:
        acked = await super().enqueue(records)

        async def then_die() -> None:
            await acked
            print(f"published {len(records)}, dying before mark", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

        return then_die()


async def main(dsn: str, schema: str, prefix: str, batch: str) -> None:
    access = KafkaAccess.from_env()
    producer = make_producer(access)
    await producer.start()
    relay = OutboxRelay(dsn, schema,
                        DieAfterPublish(producer, factory=lambda: make_producer(access)),
                        topic_prefix=prefix, batch_size=int(batch))
    conn = await asyncpg.connect(dsn)
    await relay.publish_pending(conn)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
