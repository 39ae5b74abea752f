"""asyncpg pools bound to one service's role and schema, and schema provisioning."""

from __future__ import annotations

import json
import re
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

__all__ = [
    "Conn",
    "Pool",
    "Reads",
    "create_pool",
    "drop_service_schema",
    "provision_service_schema",
    "quote_ident",
    "unstorable_text",
]

Pool = asyncpg.Pool
# A connection, whether held directly or borrowed from a pool.
Conn = asyncpg.Connection | PoolConnectionProxy
# What a store's read takes: a connection inside a use case's transaction, or the pool
# for a query outside one.
Reads = Conn | asyncpg.Pool

_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def quote_ident(name: str) -> str:
    """Schema and role names come from settings: accept only plain identifiers."""
    if not _IDENT.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return f'"{name}"'


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a connection released to the pool runs beyond asyncpg's own rollback of an
    open transaction: nothing. asyncpg's default resets the session (advisory locks,
    cursors, LISTEN, settings) in one more round trip per unit of work; the platform's
    pooled sessions change none of these — their settings come with the connection,
    locks and ``SET LOCAL`` are the transaction's, LISTEN is on the relay's own sessions —
    so there is nothing to reset."""


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(typ, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, schema: str, *, min_size: int = 1, max_size: int = 10,
                      **kwargs: Any) -> asyncpg.Pool:
    """A pool whose connections see ``schema`` first (and ``public`` for nothing else)."""
    quote_ident(schema)
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        server_settings={"search_path": schema, "application_name": f"cites-{schema}"},
        **kwargs,
    )
    assert pool is not None
    return pool


async def provision_service_schema(admin: asyncpg.Connection, schema: str, role: str,
                                   password: str) -> None:
    """Create a login role owning one schema and nothing else (idempotent).

    The same rules as ``deploy/postgres/init.sql``: the role can use only its schema.
    """
    r, s = quote_ident(role), quote_ident(schema)
    async with admin.transaction():
        await _serialise_acl_changes(admin)
        exists = await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
        if not exists:
            await admin.execute(f"CREATE ROLE {r} LOGIN PASSWORD {_literal(password)}")
        await admin.execute(f"CREATE SCHEMA IF NOT EXISTS {s} AUTHORIZATION {r}")
        await admin.execute(f"ALTER ROLE {r} SET search_path = {s}")
        await admin.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        db = await admin.fetchval("SELECT current_database()")
        await admin.execute(f'GRANT CONNECT ON DATABASE "{db}" TO {r}')


async def drop_service_schema(admin: asyncpg.Connection, schema: str, role: str) -> None:
    r, s = quote_ident(role), quote_ident(schema)
    async with admin.transaction():
        await _serialise_acl_changes(admin)
        await admin.execute(f"DROP SCHEMA IF EXISTS {s} CASCADE")
        if await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
            await admin.execute(f"DROP OWNED BY {r} CASCADE")
            await admin.execute(f"DROP ROLE IF EXISTS {r}")


async def _serialise_acl_changes(admin: asyncpg.Connection) -> None:
    # Two sessions granting on the same database or schema at once update one catalog row:
    # PostgreSQL fails one with "tuple concurrently updated". Take turns.
    await admin.execute("SELECT pg_advisory_xact_lock(hashtext('cites:provision'))")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def unstorable_text(value: str) -> tuple[str, str] | None:
    """(error type, message) when PostgreSQL could not store ``value`` as text: a NUL
    character, or a lone surrogate (valid in a Python string and in JSON, not in UTF-8)."""
    if "\x00" in value:
        return "text_nul", "Text may not contain the NUL character (\\u0000)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "string_unicode", "Input should be valid Unicode: lone surrogate (\\udXXX)"
    return None
