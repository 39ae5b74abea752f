"""Where a label decision's CPU goes in labelling (``python -m bench.decision_profile``).

``python -m labelling`` runs in its own process as deployed (HTTP, relay and producer in
one event loop) on the real PostgreSQL and Kafka; label decisions are posted one after
another (``--concurrency`` at a time) on keep-alive connections while py-spy samples the
service. Printed: the service's CPU per decision (from ``/proc``: the rate one process
can sustain at all) and the samples grouped by the package whose code was running — each
sample counted once, for the innermost frame of a known package. py-spy's samples of a
coroutine start at the coroutine (the event loop resumed it), so a breakdown by package,
not a call tree, is what they support.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from rich.console import Console
from rich.table import Table

from cites_runtime.app import run_migrations
from cites_runtime.testing import delete_topics
from cites_runtime.testing.http import free_port
from cites_runtime.testing.infra import resolve_infra
from cites_runtime.testing.plugin import drop_db, new_service_db
from cites_runtime.tuning import run

from .labelling_bench import (
    DECISION,
    NATIONAL,
    PIDS,
    _Connection,
    _prepare,
    _server,
    labelling_env,
)
from .latency_bench import _cpu

PACKAGES = (
    ("asyncpg (client protocol)", r"asyncpg/"),
    ("aiokafka (producer)", r"aiokafka/"),
    ("pydantic", r"pydantic"),
    ("uvicorn and h11 (HTTP/1.1)", r"uvicorn/|h11/"),
    ("Starlette and FastAPI (routing, dependencies, answers)", r"starlette/|fastapi/"),
    ("prometheus-client", r"prometheus_client/"),
    ("structlog", r"structlog/"),
    ("labelling (domain, store, API)", r"services/labelling/"),
    ("cites_runtime (edge, unit of work, relay)", r"cites_runtime/"),
    ("cites_contracts (codec)", r"cites_contracts/"),
    ("json (stdlib)", r"/json/"),
    ("event loop and sockets (asyncio on uvloop)", r"asyncio/|uvloop"),
    ("other standard library", r"python3\.\d+/"),
)


def by_package(raw: Path) -> tuple[int, collections.Counter[str]]:
    """Samples per package, from py-spy's ``--format raw`` (collapsed stacks)."""
    found: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        for frame in reversed(stack.split(";")):
            name = next((name for name, pattern in PACKAGES if re.search(pattern, frame)), None)
            if name is not None:
                found[name] += n
                break
        else:
            found["other"] += n
    return total, found


async def profile(decisions: int, concurrency: int, console: Console) -> None:
    from labelling.app import definition
    from labelling.settings import LabellingSettings

    # The virtualenv's, when the bench is run by its python without the venv on PATH.
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    infra = resolve_infra()
    tag = uuid.uuid4().hex[:8]
    prefix = f"bench{tag}."
    db = await new_service_db(infra, f"bench_{tag}")
    env = labelling_env(infra, db, prefix)
    raw = Path(tempfile.mkdtemp()) / "decisions.raw"
    try:
        await run_migrations(definition, LabellingSettings(database_url=db.dsn,
                                                           db_schema=db.schema))
        port = free_port()
        async with _server(["-m", "labelling"], {**env, "LABELLING_HTTP_PORT": str(port)},
                           port, "labelling"):
            ids = await _prepare(port, decisions + 50, 8)
            async with _Connection(port, NATIONAL) as conn:  # warm the statement caches
                for cid in ids[:50]:
                    await conn.request("POST", f"/candidatures/{cid}/decision", DECISION)
            pid = PIDS["labelling"]
            sampler = None
            if spy:
                sampler = await asyncio.create_subprocess_exec(
                    spy, "record", "--pid", str(pid), "--rate", "500", "--format", "raw",
                    "--nonblocking", "-o", str(raw),
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                await asyncio.sleep(1.5)  # attached
            queue = list(reversed(ids[50:]))
            cpu, started = _cpu(pid), time.perf_counter()

            async def decide() -> None:
                async with _Connection(port, NATIONAL) as conn:
                    while queue:
                        await conn.request("POST", f"/candidatures/{queue.pop()}/decision",
                                           DECISION)

            await asyncio.gather(*(decide() for _ in range(concurrency)))
            cpu, wall = _cpu(pid) - cpu, time.perf_counter() - started
            if sampler is not None:
                sampler.send_signal(signal.SIGINT)
                await asyncio.wait_for(sampler.wait(), 60)
    finally:
        await drop_db(db)
        await delete_topics(infra.kafka, prefix)
        infra.close()
    per = cpu / decisions * 1000
    console.print(f"{decisions} decisions, {concurrency} at a time: the service's CPU "
                  f"{per:.2f} ms a decision (at most {1000 / per:,.0f}/s on one core); "
                  f"wall {wall / decisions * 1000:.2f} ms a decision", soft_wrap=True)
    if not spy or not raw.exists():
        console.print("[yellow]py-spy not found (make install installs it): no breakdown")
        return
    total, found = by_package(raw)
    table = Table(title=f"labelling's CPU per decision by package ({total:,} samples)")
    table.add_column("running")
    table.add_column("share", justify="right")
    table.add_column("ms a decision", justify="right")
    for name, n in found.most_common():
        table.add_row(name, f"{100 * n / total:.1f}%", f"{per * n / total:.2f}")
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--decisions", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    run(profile(args.decisions, args.concurrency, Console()))


if __name__ == "__main__":
    main()
