"""Database round trips per labelling decision, counted (``python -m bench --only
roundtrips``): labelling in this process on the in-memory broker and the real PostgreSQL,
its pool's connections wrapping asyncpg's protocol to count each message they await
(a simple query, a bind-execute, a prepare). The relay's own sessions are not the pool's
and are not counted: what is counted is what a command waits for.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
from rich.console import Console

from cites_runtime.testing.harness import in_memory
from cites_runtime.testing.infra import Infra
from cites_runtime.testing.plugin import drop_db, new_service_db
from cites_runtime.testing.round_trips import CountingConnection, counted

from .access import kafka_settings
from .labelling_bench import DECISION, NATIONAL, TOKENS, _prepare
from .runtime_bench import Result

__all__ = ["count_decision_round_trips"]

async def count_decision_round_trips(infra: Infra, console: Console, n: int = 5
                                     ) -> list[Result]:
    from labelling.app import definition
    from labelling.settings import LabellingSettings

    tag = uuid.uuid4().hex[:8]
    db = await new_service_db(infra, f"bench_{tag}")
    settings = LabellingSettings(
        database_url=db.dsn, db_schema=db.schema, topic_prefix=f"bench{tag}.",
        auth_mode="static", tokens=TOKENS, log_level="WARNING", expiry_check_interval_s=86400,
        **kafka_settings(infra))
    create_pool = asyncpg.create_pool

    def counting_pool(*args: Any, **kwargs: Any) -> Any:
        return create_pool(*args, connection_class=CountingConnection, **kwargs)

    asyncpg.create_pool = counting_pool
    try:
        async with in_memory(definition, settings, serve=True) as service:
            ids = await _prepare(int(service.url.rsplit(":", 1)[1]), n + 3, 1)
            headers = {"authorization": f"Bearer {NATIONAL}"}
            async with httpx.AsyncClient(base_url=service.url) as http:
                counts = []
                for i, cid in enumerate(ids):
                    with counted() as log:
                        answer = await http.post(f"/candidatures/{cid}/decision",
                                                 json=DECISION, headers=headers)
                    if answer.status_code != 200:
                        raise RuntimeError(f"{answer.status_code}: {answer.text}")
                    if i >= 3:  # 3 to warm statement caches
                        counts.append(len(log))
        console.print(f"roundtrips: a label decision waits for {counts} round trips "
                      "(BEGIN to COMMIT: the pool resets nothing on release), the last one:")
        for line in log or []:
            console.print(f"  {line}", markup=False, overflow="ignore", crop=False)
    finally:
        asyncpg.create_pool = create_pool
        await drop_db(db)
    return []
