"""Partners' consumer against a raw aiokafka consumer, on one topic pre-filled with
``TerritoryLabelled`` events (a 12-school perimeter, ~2 KB each).

Ours is the partners service as it runs (``Runtime`` with its consumer and relay): decode
and validate each event against its contract, inbox row, open the alliance (register the
lead collège, chef de file membership), three events to the outbox, relay them to Kafka
(the relay runs meanwhile, on the same two cores). Both are timed alike: from their first
records in hand until the last batch is done (:class:`~bench.runtime_bench.ConsumedWindow`),
runtime start and stop excluded. The baseline only reads the records and commits offsets.
Rounds alternate (:func:`~bench.runtime_bench.alternated`).
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
from cites_runtime.testing.infra import Infra
from cites_runtime.testing.plugin import drop_db, new_service_db

from .access import kafka_settings
from .runtime_bench import (
    Backlogs,
    Result,
    Timing,
    _count,
    alternated,
    consumed,
    run_alone,
)

__all__ = ["partners_bench"]


async def partners_bench(infra: Infra, n: int = 20_000, console: Console | None = None,
                         rounds: int = 3) -> list[Result]:
    """Events/s until ``n`` alliances exist, vs the raw consumer on the same topic, in
    alternated rounds, each on a backlog and a schema of its own."""
    console = console or Console()
    tag = uuid.uuid4().hex[:8]
    backlogs = Backlogs(infra, f"bench{tag}", LABELLING_LABELS.name, n, console)
    console.print(f"partners: {n:,} TerritoryLabelled events a round, {rounds} rounds")

    async def ours(i: int) -> Timing:
        db = await new_service_db(infra, f"bench_partners_{tag}_{i}")
        try:
            settings = PartnersSettings(
                database_url=db.dsn, db_schema=db.schema,
                topic_prefix=await backlogs.prefix(i), consumer_batch_size=1000,
                log_json=False, log_level="WARNING", **kafka_settings(infra))
            await run_migrations(definition, settings)
            timing = await consumed(definition, settings, n)
            assert await _count(db, "alliances") == n
            return timing
        finally:
            await drop_db(db)

    try:
        return [Result.of_rounds("partners: TerritoryLabelled → alliance", n,
                                 "raw aiokafka consumer", "≥ 5,000 ev/s",
                                 await alternated(rounds, backlogs.raw, ours, console, n))]
    finally:
        await backlogs.close()


if __name__ == "__main__":  # python -m bench.partners_bench [N]
    run_alone(partners_bench, 20_000, unit=" ev/s")
