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

from .access import kafka_settings
from .labelling_bench import DECISION, NATIONAL, TOKENS, _prepare
from .runtime_bench import Result

__all__ = ["count_decision_round_trips"]

_AWAITED = ("query", "prepare", "bind_execute", "bind_execute_many", "copy_in", "copy_out",
            "close_statement")


class _Counted:
    """asyncpg's protocol, each awaited message noted while ``log`` is not None."""

    log: list[str] | None = None

    def __init__(self, protocol: Any):
        self.__dict__["_protocol"] = protocol

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._protocol, name)
        if name not in _AWAITED:
            return attr

        async def counted(*args: Any, **kwargs: Any) -> Any:
            if _Counted.log is not None:
                text = next((a if isinstance(a, str) else a.query
                             for a in (*args, *kwargs.values())
                             if isinstance(a, str) or hasattr(a, "query")), "?")
                _Counted.log.append(f"{name:12s} {' '.join(text.split())[:100]}")
            return await attr(*args, **kwargs)

        return counted

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._protocol, name, value)


class _CountingConnection(asyncpg.Connection):
    def __init__(self, protocol: Any, *args: Any, **kwargs: Any):
        super().__init__(_Counted(protocol), *args, **kwargs)  # type: ignore[arg-type]


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
        return create_pool(*args, connection_class=_CountingConnection, **kwargs)

    asyncpg.create_pool = counting_pool
    try:
        async with in_memory(definition, settings, serve=True) as service:
            ids = await _prepare(int(service.url.rsplit(":", 1)[1]), n + 3, 1)
            headers = {"authorization": f"Bearer {NATIONAL}"}
            async with httpx.AsyncClient(base_url=service.url) as http:
                counts = []
                for i, cid in enumerate(ids):
                    _Counted.log = [] if i >= 3 else None  # 3 to warm statement caches
                    answer = await http.post(f"/candidatures/{cid}/decision", json=DECISION,
                                             headers=headers)
                    log, _Counted.log = _Counted.log, None
                    if answer.status_code != 200:
                        raise RuntimeError(f"{answer.status_code}: {answer.text}")
                    if log is not None:
                        counts.append(len(log))
        console.print(f"roundtrips: a label decision waits for {counts} round trips "
                      "(BEGIN to COMMIT: the pool resets nothing on release), the last one:")
        for line in log or []:
            console.print(f"  {line}", markup=False, overflow="ignore", crop=False)
    finally:
        asyncpg.create_pool = create_pool
        await drop_db(db)
    return []
