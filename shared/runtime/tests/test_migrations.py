from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from cites_runtime.migrations import MigrationError, load_migrations, migrate, runtime_migrations
from cites_runtime.testing.plugin import ServiceDb

pytestmark = pytest.mark.integration


def write(dir_: Path, name: str, sql: str) -> None:
    (dir_ / name).write_text(sql)


async def test_migrations_apply_once_and_are_idempotent(service_db: ServiceDb, tmp_path: Path
                                                        ) -> None:
    write(tmp_path, "0001_first.sql", "CREATE TABLE a (x int);")
    write(tmp_path, "0002_second.sql", "ALTER TABLE a ADD COLUMN y int;")
    migrations = [*runtime_migrations(), *load_migrations("svc", tmp_path)]
    conn = await asyncpg.connect(service_db.dsn)
    try:
        first = await migrate(conn, service_db.schema, migrations)
        second = await migrate(conn, service_db.schema, migrations)
        cols = await conn.fetchval(
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_schema = $1 AND table_name = 'a'", service_db.schema)
    finally:
        await conn.close()
    assert first == ["runtime/0001_outbox_inbox.sql", "runtime/0002_outbox_txid.sql",
                     "runtime/0003_outbox_parking.sql",
                     "runtime/0004_consumer_positions.sql",
                     "runtime/0005_outbox_tombstones.sql",
                     "runtime/0006_outbox_delete_on_publish.sql",
                     "runtime/0007_relay_leader.sql",
                     "runtime/0008_idempotency_keys.sql", "svc/0001_first.sql",
                     "svc/0002_second.sql"]
    assert second == []
    assert cols == 2


async def test_an_edited_applied_migration_is_refused(service_db: ServiceDb, tmp_path: Path
                                                      ) -> None:
    write(tmp_path, "0001_first.sql", "CREATE TABLE a (x int);")
    conn = await asyncpg.connect(service_db.dsn)
    try:
        await migrate(conn, service_db.schema, load_migrations("svc", tmp_path))
        write(tmp_path, "0001_first.sql", "CREATE TABLE a (x bigint);")
        with pytest.raises(MigrationError, match="edited after being applied"):
            await migrate(conn, service_db.schema, load_migrations("svc", tmp_path))
    finally:
        await conn.close()


async def test_two_replicas_migrating_at_once_apply_each_file_once(service_db: ServiceDb,
                                                                   tmp_path: Path) -> None:
    write(tmp_path, "0001_slow.sql", "SELECT pg_sleep(0.3); CREATE TABLE a (x int);")
    migrations = load_migrations("svc", tmp_path)
    conns = [await asyncpg.connect(service_db.dsn) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate(c, service_db.schema, migrations) for c in conns))
    finally:
        for c in conns:
            await c.close()
    assert sorted(len(r) for r in results) == [0, 0, 1]


def test_badly_named_migrations_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "first.sql", "SELECT 1;")
    with pytest.raises(MigrationError, match=r"0001_description\.sql"):
        load_migrations("svc", tmp_path)


async def test_a_service_role_cannot_touch_another_service_schema(infra: object,
                                                                  service_db: ServiceDb) -> None:
    from cites_runtime.testing.plugin import drop_db, new_service_db

    owner = await asyncpg.connect(service_db.dsn)
    await owner.execute("CREATE TABLE secret (x int); INSERT INTO secret VALUES (1)")
    await owner.close()
    other = await new_service_db(infra, service_db.schema + "_b")  # type: ignore[arg-type]
    try:
        conn = await asyncpg.connect(other.dsn)
        try:
            await conn.execute("CREATE TABLE mine (x int)")  # own schema: allowed
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                await conn.execute(f'CREATE TABLE "{service_db.schema}".intruder (x int)')
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                await conn.fetch(f'SELECT * FROM "{service_db.schema}".secret')
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                await conn.execute("CREATE TABLE public.intruder (x int)")
        finally:
            await conn.close()
    finally:
        await drop_db(other)


async def test_a_migration_that_waits_for_a_busy_table_gives_up_instead_of_blocking_it(
        service_db: ServiceDb, tmp_path: Path) -> None:
    # A DDL waiting for a table's lock queues every later reader and writer of that table
    # behind it: during a deploy, that is an outage. It gives up after lock_timeout.
    write(tmp_path, "0001_first.sql", "CREATE TABLE a (x int);")
    write(tmp_path, "0002_second.sql", "ALTER TABLE a ADD COLUMN y int;")
    first, second = load_migrations("svc", tmp_path)
    busy = await asyncpg.connect(service_db.dsn)
    migrator = await asyncpg.connect(service_db.dsn)
    try:
        await migrate(migrator, service_db.schema, [first])
        reading = busy.transaction()
        await reading.start()
        await busy.execute("SELECT * FROM a")  # a long transaction holds its lock
        with pytest.raises(asyncpg.LockNotAvailableError):
            await asyncio.wait_for(migrate(migrator, service_db.schema, [first, second],
                                           lock_timeout_s=0.5), 10)
        await reading.rollback()
        assert await migrate(migrator, service_db.schema, [first, second]) == [second.id]
    finally:
        await busy.close()
        await migrator.close()


async def test_another_role_can_neither_take_the_migration_lock_nor_hold_migrations_back(
        infra: object, service_db: ServiceDb, tmp_path: Path) -> None:
    from cites_runtime.testing.plugin import drop_db, new_service_db

    write(tmp_path, "0001_first.sql", "CREATE TABLE a (x int);")
    write(tmp_path, "0002_second.sql", "ALTER TABLE a ADD COLUMN y int;")
    first, second = load_migrations("svc", tmp_path)
    migrator = await asyncpg.connect(service_db.dsn)
    other = await new_service_db(infra, service_db.schema + "_b")  # type: ignore[arg-type]
    try:
        await migrate(migrator, service_db.schema, [first])
        intruder = await asyncpg.connect(other.dsn)
        try:
            async with intruder.transaction():
                with pytest.raises(asyncpg.InsufficientPrivilegeError,
                                   match="permission denied"):
                    await intruder.execute(f'LOCK TABLE "{service_db.schema}".schema_migrations '
                                           "IN EXCLUSIVE MODE NOWAIT")
            # Any advisory lock it likes, among them the key migrations once took turns on.
            await intruder.execute("SELECT pg_advisory_lock(hashtext($1))",
                                   f"migrate:{service_db.schema}")
            assert await asyncio.wait_for(
                migrate(migrator, service_db.schema, [first, second]), 10) == [second.id]
        finally:
            await intruder.close()
    finally:
        await migrator.close()
        await drop_db(other)
