"""The provisioning job on the real PostgreSQL: each service gets a login role with the
password given and a schema only it can use; run again, it changes the password and
nothing else."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import asyncpg
import pytest

from cites_runtime.testing.infra import Infra
from cites_runtime.testing.plugin import ServiceDb, drop_db, role_dsn

pytestmark = pytest.mark.integration


def _job(infra: Infra, passwords: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CITES_ADMIN_DATABASE_URL": infra.database_url,
           "CITES_SERVICES": ",".join(passwords),
           **{f"{s.upper()}_DB_PASSWORD": p for s, p in passwords.items()}}
    return subprocess.run([sys.executable, "-m", "cites_runtime.provision"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


async def test_each_service_gets_its_role_and_schema_and_a_new_password_on_a_rerun(
        infra: Infra) -> None:
    a, b = (f"p_{uuid.uuid4().hex[:8]}" for _ in range(2))
    try:
        first = _job(infra, {a: "first-secret", b: "other-secret"})
        assert first.returncode == 0, first.stderr
        conn = await asyncpg.connect(role_dsn(infra.database_url, a, "first-secret"))
        try:
            await conn.execute("CREATE TABLE t (x int)")  # its own schema, on its path
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(f'CREATE TABLE "{b}".t (x int)')
        finally:
            await conn.close()
        again = _job(infra, {a: "rotated", b: "other-secret"})
        assert again.returncode == 0, again.stderr
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(role_dsn(infra.database_url, a, "first-secret"))
        conn = await asyncpg.connect(role_dsn(infra.database_url, a, "rotated"))
        assert await conn.fetchval("SELECT count(*) FROM t") == 0  # its table kept
        await conn.close()
    finally:
        for name in (a, b):
            await drop_db(ServiceDb(name, name, "", "", infra.database_url))


def test_a_missing_password_is_refused_before_anything_is_done(infra: Infra) -> None:
    env = {**os.environ, "CITES_ADMIN_DATABASE_URL": infra.database_url,
           "CITES_SERVICES": "nobody_here"}
    env.pop("NOBODY_HERE_DB_PASSWORD", None)
    done = subprocess.run([sys.executable, "-m", "cites_runtime.provision"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "NOBODY_HERE_DB_PASSWORD" in done.stderr
