"""Ordered, checksummed SQL migrations for one schema.

Files are ``NNNN_description.sql``. The runtime's own tables (outbox, inbox) come first
(source ``runtime``), then the service's (source = service name). An applied file whose
checksum changed is refused: migrations are append-only. Two replicas starting together
take turns on a lock of the schema's ``schema_migrations`` table, held to the end of the
migrating transaction, so each file runs exactly once. Only the service's role can take it
(no other role has USAGE on the schema): another service cannot hold migrations back.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from .db import quote_ident
from .logs import get_logger

__all__ = ["Migration", "MigrationError", "load_migrations", "migrate", "runtime_migrations"]

log = get_logger(__name__)
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Migration:
    source: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def id(self) -> str:
        return f"{self.source}/{self.name}"


def load_migrations(source: str, directory: Path) -> list[Migration]:
    files = sorted(p for p in directory.iterdir() if p.suffix == ".sql")
    bad = [p.name for p in files if not _NAME.match(p.name)]
    if bad:
        raise MigrationError(f"migration names must look like 0001_description.sql: {bad}")
    numbers = [p.name[:4] for p in files]
    if len(set(numbers)) != len(numbers):
        raise MigrationError(f"two migrations share a number in {directory}")
    return [Migration(source, p.name, p.read_text(encoding="utf-8")) for p in files]


def runtime_migrations() -> list[Migration]:
    return load_migrations("runtime", Path(__file__).parent / "sql")


async def migrate(conn: asyncpg.Connection, schema: str, migrations: list[Migration], *,
                  lock_timeout_s: float = 5.0) -> list[str]:
    """Apply what is missing, in order, in one transaction; return the ids applied now.

    A statement that waits more than ``lock_timeout_s`` for a table lock (a long
    transaction of the running service holds it) fails with ``LockNotAvailableError`` and
    nothing is applied: waiting would queue every reader and writer of that table behind
    it. Run the migration again (``migrate`` is idempotent), or when traffic is lower."""
    s = quote_ident(schema)
    applied_now: list[str] = []
    await _create_ledger(conn, s)
    async with conn.transaction():
        # Released at commit, or when the session ends if this process dies mid-way. Waits
        # for another migrator without limit: migrations of a schema take turns. EXCLUSIVE
        # conflicts with itself, not with readers (pg_dump).
        await conn.execute(f"LOCK TABLE {s}.schema_migrations IN EXCLUSIVE MODE")
        await conn.execute(f"SET LOCAL lock_timeout = '{int(lock_timeout_s * 1000)}ms'")
        await conn.execute(f"SET LOCAL search_path = {s}")
        rows = await conn.fetch(f"SELECT id, checksum FROM {s}.schema_migrations")
        done = {r["id"]: r["checksum"] for r in rows}
        for m in migrations:
            if m.id in done:
                if done[m.id] != m.checksum:
                    raise MigrationError(
                        f"migration {m.id} was edited after being applied "
                        f"(checksum {done[m.id][:12]} → {m.checksum[:12]}); "
                        "add a new migration instead"
                    )
                continue
            await conn.execute(m.sql)
            await conn.execute(
                f"INSERT INTO {s}.schema_migrations (id, checksum) VALUES ($1, $2)",
                m.id, m.checksum,
            )
            applied_now.append(m.id)
            log.info("migration applied", migration=m.id, schema=schema)
    return applied_now


async def _create_ledger(conn: asyncpg.Connection, s: str) -> None:
    """``schema_migrations``, if missing, committed at once: migrate() takes turns on its
    lock, so it must exist before any migrator locks it."""
    for attempt in (1, 2):
        try:
            async with conn.transaction():
                await conn.execute(
                    f"""CREATE TABLE IF NOT EXISTS {s}.schema_migrations (
                        id text PRIMARY KEY,
                        checksum text NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now())"""
                )
            return
        except (asyncpg.UniqueViolationError, asyncpg.DuplicateTableError,
                asyncpg.DuplicateObjectError):
            # Another replica was creating it (IF NOT EXISTS does not see an uncommitted
            # table): once it has committed, the second try finds it.
            if attempt == 2:
                raise
