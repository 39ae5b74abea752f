"""Resident memory (RSS) of each service as a process, idle and after a load.

The four services run as ``python -m <name>`` on the real Kafka and PostgreSQL, each on a
fresh schema, sharing a fresh topic prefix — the end-to-end tests' platform
(``tests/e2e/e2e_platform.py``: ``running_platform``), notifications mailing an SMTP sink
of the bench's own. Each process's ``VmRSS`` is read from ``/proc/<pid>/status`` once
every service is ready and has sat idle a while, then again after a load: funding's
envelope opened, ``labels`` candidatures drafted, submitted, scored and labelled through
labelling's HTTP API (8 in flight), until partners has every alliance, funding every
dotation and notifications every mail settled; with ``VmHWM``, the peak. The baseline: a
bare ``python -c 'import asyncio, aiokafka, asyncpg, fastapi'`` process.

    python -m bench --only rss [--rss-labels 300]
"""

from __future__ import annotations

import asyncio
import importlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from rich.console import Console
from rich.table import Table

from cites_runtime.testing.infra import Infra

from .runtime_bench import Result

__all__ = ["rss_bench"]

ROOT = Path(__file__).resolve().parents[1]
TARGET_MB = 150
IDLE_S = 10.0
"""How long the started services sit idle before their idle RSS is read."""
BARE = "import asyncio, aiokafka, asyncpg, fastapi"


def _e2e() -> ModuleType:
    """The end-to-end tests' platform module (it lives beside those tests)."""
    sys.path.insert(0, str(ROOT / "tests" / "e2e"))
    return importlib.import_module("e2e_platform")


def memory(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of the process, in MB (MiB)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024  # kB
    return fields["VmRSS"], fields["VmHWM"]


def bare_python() -> float:
    """RSS (MB) of a bare Python process that imported what every service imports."""
    with subprocess.Popen([sys.executable, "-c", f"{BARE}; import sys; print('ready', "
                           "flush=True); sys.stdin.read()"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == b"ready"
        rss, _ = memory(proc.pid)
        proc.stdin.close()
        proc.wait(timeout=30)
    return rss


async def _until(check: Callable[[], Awaitable[bool]], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not done after {timeout:.0f} s: {what}")
        await asyncio.sleep(0.5)


async def _count(service: Any, sql: str) -> int:
    conn = await asyncpg.connect(service.db.dsn,
                                 server_settings={"search_path": service.db.schema})
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def load(platform: Any, e2e: ModuleType, labels: int, console: Console) -> None:
    """``labels`` cités labelled through labelling's API, and everything they cause
    consumed: alliances, dotations, mails."""
    year = datetime.now(ZoneInfo("Europe/Paris")).year  # a label starts on its decision day
    opened = await platform.funds.post("/envelopes", headers=e2e.NATIONAL, json={
        "name": f"{e2e.WAVE} {year} P147", "programme": "P147", "budget_years": [year],
        "wave_ids": [e2e.WAVE], "amount": 1_000_000_000_00})
    assert opened.status_code == 201, opened.text
    slots = asyncio.Semaphore(8)

    async def label(n: int) -> None:
        async with slots:
            await platform.label(f"08{n:05d}F", territory=f"Territoire {n}")

    started = time.perf_counter()
    await asyncio.gather(*(label(n) for n in range(labels)))
    console.print(f"  {labels} cités labelled through labelling's API in "
                  f"{time.perf_counter() - started:.0f} s")

    async def consumed() -> bool:
        pending = await _count(platform.notifications, """SELECT count(*) FROM notifications
                                                          WHERE status IN ('pending', 'sending')""")
        return (await _count(platform.partners, "SELECT count(*) FROM alliances") >= labels
                and await _count(platform.funding, "SELECT count(*) FROM allocations") >= labels
                and await _count(platform.notifications, "SELECT count(*) FROM cites") >= labels
                and pending == 0)

    await _until(consumed, "alliances, dotations and mails of every label", 600)
    mails = await _count(platform.notifications, "SELECT count(*) FROM notifications")
    console.print(f"  consumed: {labels} alliances, {labels} dotations, {mails} mails settled, "
                  f"{time.perf_counter() - started:.0f} s after the first label")


async def rss_bench(infra: Infra, labels: int = 300, console: Console | None = None
                    ) -> list[Result]:
    """Prints each service's RSS idle and after ``labels`` labels, against the target."""
    console = console or Console()
    e2e = _e2e()
    bare = bare_python()
    with tempfile.TemporaryDirectory(prefix="bench-rss-") as tmp:
        maildir = Path(tmp) / "mail"
        maildir.mkdir()
        sink = e2e.SmtpSink(maildir, Path(tmp))
        sink.start()
        try:
            async with e2e.running_platform(infra, Path(tmp), funding=True,
                                            notifications=True,
                                            smtp=sink.address) as platform:
                services = [platform.labelling, platform.partners, platform.funding,
                            platform.notifications]
                console.print(f"rss: four services started; idle for {IDLE_S:.0f} s")
                await asyncio.sleep(IDLE_S)
                idle = {s.name: memory(s.proc.pid) for s in services}
                await load(platform, e2e, labels, console)
                await asyncio.sleep(2)
                after = {s.name: memory(s.proc.pid) for s in services}
        finally:
            sink.kill()
    table = Table(title=f"RSS per service (MB; target < {TARGET_MB} MB each)")
    for col in ("process", "idle", f"after {labels} labels", "peak (VmHWM)", "target"):
        table.add_column(col)
    for name in idle:
        worst = max(after[name][0], after[name][1])
        table.add_row(f"python -m {name}", f"{idle[name][0]:.0f}", f"{after[name][0]:.0f}",
                      f"{after[name][1]:.0f}",
                      f"< {TARGET_MB}: {'met' if worst < TARGET_MB else 'NOT met'}")
    table.add_row(f"baseline: python -c '{BARE}'", f"{bare:.0f}", "", "", "")
    console.print(table)
    return []
