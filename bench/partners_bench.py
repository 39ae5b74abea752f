"""Partners' consumer against a raw aiokafka consumer, on one topic pre-filled with
``TerritoryLabelled`` events (a 12-school perimeter, ~2 KB each).

Ours is the partners service as it runs (``Runtime`` with its consumer and relay): decode
and validate each event against its contract, inbox row, open the alliance (register the
lead collège, chef de file membership), three events to the outbox, relay them to Kafka
(the relay runs meanwhile, on the same two cores). Both are timed alike: from their first
records in hand until the last batch is done (:class:`~bench.runtime_bench.ConsumedWindow`),
runtime start and stop excluded. The baseline only reads the records and commits offsets.
Called from ``bench/__main__.py``::

    results += asyncio.run(partners_bench(infra, args.partners_events, console))
"""

from __future__ import annotations

import uuid

from partners.app import definition
from partners.settings import PartnersSettings
from rich.console import Console

from cites_contracts.topics import LABELLING_LABELS
from cites_runtime.app import run_migrations
from cites_runtime.testing import delete_topics
from cites_runtime.testing.infra import Infra
from cites_runtime.testing.plugin import drop_db, new_service_db

from .access import kafka_settings
from .runtime_bench import Result, _count, consumed_in, prefill_labels, raw_consume, run_alone

__all__ = ["partners_bench"]


async def partners_bench(infra: Infra, n: int = 20_000, console: Console | None = None
                         ) -> list[Result]:
    """Events/s until ``n`` alliances exist, vs the raw consumer on the same topic."""
    console = console or Console()
    tag = uuid.uuid4().hex[:8]
    prefix = f"bench{tag}."
    topic = f"{prefix}{LABELLING_LABELS.name}"
    db = await new_service_db(infra, f"bench_partners_{tag}")
    settings = PartnersSettings(
        database_url=db.dsn, db_schema=db.schema, topic_prefix=prefix,
        consumer_batch_size=1000, log_json=False, log_level="WARNING", **kafka_settings(infra),
    )
    await run_migrations(definition, settings)
    try:
        console.print(f"partners: pre-filling {topic} with {n:,} TerritoryLabelled events…")
        await prefill_labels(infra.kafka, topic, n)

        async def ours() -> float:
            seconds = await consumed_in(definition, settings, n)
            assert await _count(db, "alliances") == n
            return seconds

        raw_s = await raw_consume(infra.kafka, topic, n)
        ours_s = await ours()
        console.print(f"  raw {n / raw_s:,.0f} ev/s, partners consumer {n / ours_s:,.0f} ev/s "
                      f"(ratio {raw_s / ours_s:.3f})")
        return [Result("partners: TerritoryLabelled → alliance", n, n / ours_s,
                       "raw aiokafka consumer", n / raw_s, "≥ 5,000 ev/s")]
    finally:
        await drop_db(db)
        await delete_topics(infra.kafka, prefix)


if __name__ == "__main__":  # python -m bench.partners_bench [N]
    run_alone(partners_bench, 20_000, unit=" ev/s")
