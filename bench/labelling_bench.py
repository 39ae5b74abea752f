"""Labelling decisions through HTTP, against a bare FastAPI endpoint doing one INSERT.

Ours: ``python -m labelling`` in its own process; each command is ``POST
/candidatures/{id}/decision`` (label), which locks the candidature, draws the cité id,
writes the cité and its history and puts ``TerritoryLabelled`` in the outbox, in one
transaction; the relay publishes it. We measure commands/s, the HTTP latency, and the
latency from sending the command to its event being read from Kafka by a consumer.

Baseline: a bare FastAPI app (same uvicorn, same database, same body, same client and
concurrency) whose endpoint validates the body and does one INSERT. Ratio = ours / bare.
The candidatures are prepared (drafted, submitted, scored) before timing starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from fastapi import FastAPI
from labelling.examples import CRITERIA_2024_SCORES, eligible_candidature
from pydantic import BaseModel
from rich.console import Console

from cites_contracts.access import KafkaAccess
from cites_runtime.app import run_migrations
from cites_runtime.testing import delete_topics
from cites_runtime.testing.http import free_port
from cites_runtime.testing.infra import Infra
from cites_runtime.testing.plugin import ServiceDb, drop_db, new_service_db

from .access import kafka_env
from .runtime_bench import Result

__all__ = ["bare_app", "labelling_bench"]

ROOT = Path(__file__).resolve().parents[1]
NATIONAL = "bench-national"
# A QPV and a lead collège belong to one cité or pending candidature at a time, and a
# département has 2,600 QPV codes: the candidatures are spread over six départements.
DEPARTEMENTS = ("69", "13", "59", "93", "75", "62")
TOKENS: dict[str, dict[str, str]] = {NATIONAL: {"role": "national", "subject": "bench"}} | {
    f"bench-prefecture-{d}": {"role": "prefecture", "departement": d, "subject": f"bench-{d}"}
    for d in DEPARTEMENTS}
DECISION = {"outcome": "label", "motive": "Dossier solide, alliance éducative constituée"}
WARM_UP = 50
ROUNDS = 2  # alternated, best of each kept: the machine is shared and noisy


# --- The baseline: a bare endpoint doing one INSERT ------------------------------------------


class DecisionIn(BaseModel):
    outcome: str
    motive: str


def bare_app() -> FastAPI:
    """``uvicorn --factory bench.labelling_bench:bare_app`` (BENCH_DSN names the database)."""
    state: dict[str, asyncpg.Pool] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await asyncpg.create_pool(os.environ["BENCH_DSN"], min_size=1, max_size=10)
        assert pool is not None
        state["pool"] = pool
        yield
        await pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/health/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/candidatures/{candidature_id}/decision")
    async def decide(candidature_id: uuid.UUID, body: DecisionIn) -> dict[str, str]:
        await state["pool"].execute(
            "INSERT INTO bare_decisions (candidature_id, outcome, motive) VALUES ($1, $2, $3)",
            candidature_id, body.outcome, body.motive)
        return {"id": str(candidature_id)}

    return app


# --- Running a server in its own process ------------------------------------------------------


PIDS: dict[str, int] = {}
"""The process of each server :func:`_server` runs, by name (to read its CPU time)."""


def _tail(path: str) -> str:
    return Path(path).read_text(errors="replace")[-3000:]


@contextlib.asynccontextmanager
async def _server(args: list[str], env: dict[str, str], port: int, name: str
                  ) -> AsyncIterator[str]:
    log = tempfile.NamedTemporaryFile(prefix=f"{name}-", suffix=".log", delete=False)  # noqa: SIM115
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, env={**os.environ, **env}, cwd=ROOT, stdout=log,
        stderr=asyncio.subprocess.STDOUT)
    PIDS[name] = proc.pid
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url) as http:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/health/ready")).status_code == 200:
                        break
                if proc.returncode is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start:\n{_tail(log.name)}")
                await asyncio.sleep(0.2)
        yield url
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        log.close()
        os.unlink(log.name)


# --- Load -----------------------------------------------------------------------------------------


class _Connection:
    """One keep-alive HTTP/1.1 connection. httpx spends more CPU per request than the
    servers under test do on this machine (a trivial endpoint: ~200 req/s through httpx,
    ~1,400 with this), so with it every rate would be the client's."""

    def __init__(self, port: int, token: str | None = None):
        self.port = port
        self.auth = f"authorization: Bearer {token}\r\n" if token else ""

    async def __aenter__(self) -> _Connection:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()

    async def request(self, method: str, path: str, body: Any = None, *,
                      token: str | None = None) -> tuple[int, Any]:
        payload = json.dumps(body).encode() if body is not None else b""
        auth = f"authorization: Bearer {token}\r\n" if token else self.auth
        self.writer.write(
            f"{method} {path} HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n"
            f"content-length: {len(payload)}\r\n{auth}\r\n".encode() + payload)
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        answer = await self.reader.readexactly(length)
        return status, json.loads(answer) if answer else None



@dataclass
class Timings:
    sent: dict[str, float] = field(default_factory=dict)
    answered: dict[str, float] = field(default_factory=dict)
    cite_of: dict[str, str] = field(default_factory=dict)


async def _drive(port: int, ids: list[str], concurrency: int, path: str, body: Any,
                 token: str | None, timings: Timings) -> float:
    """POST ``body`` to ``path`` (``{id}`` replaced) once per id, ``concurrency`` requests in
    flight over as many keep-alive connections; return the elapsed seconds."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for i in ids:
        queue.put_nowait(i)

    async def worker() -> None:
        async with _Connection(port, token) as conn:
            while not queue.empty():
                cid = queue.get_nowait()
                timings.sent[cid] = time.perf_counter()
                status, answer = await conn.request("POST", path.format(id=cid), body)
                timings.answered[cid] = time.perf_counter()
                if status != 200:
                    raise RuntimeError(f"{status}: {answer}")
                if isinstance(answer, dict) and answer.get("cite_id"):
                    timings.cite_of[cid] = answer["cite_id"]

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


async def _prepare(port: int, n: int, concurrency: int) -> list[str]:
    """``n`` candidatures under review, ready to be labelled."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    ids: list[str] = []
    scores = {"scores": CRITERIA_2024_SCORES}

    async def worker() -> None:
        async with _Connection(port) as conn:
            while not queue.empty():
                i = queue.get_nowait()
                body = _candidature(i)
                prefecture = f"bench-prefecture-{body['departement']}"
                _, drafted = await conn.request("POST", "/candidatures", body, token=prefecture)
                cid = drafted["id"]
                status, answer = await conn.request("POST", f"/candidatures/{cid}/submission",
                                                    token=prefecture)
                if status != 200:
                    raise RuntimeError(f"submitting candidature {i}: {status} {answer}")
                status, answer = await conn.request("PUT", f"/candidatures/{cid}/review", scores,
                                                    token=NATIONAL)
                if status != 200:
                    raise RuntimeError(f"preparing candidature {i}: {status} {answer}")
                ids.append(cid)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ids


def _candidature(i: int) -> dict[str, Any]:
    """A 2-commune, 3-QPV, 12-school territory (like the other benchmarks), its QPVs and
    lead collège its own (distinct for the first 5,000)."""
    dep, j = DEPARTEMENTS[i % len(DEPARTEMENTS)], i // len(DEPARTEMENTS)
    schools = [{"uai": f"0{dep}{(j * 12 + k) % 10000:04d}A", "kind": "college" if k == 0
                else "ecole", "name": f"École {i}-{k}", "education_priority": "rep_plus"}
               for k in range(12)]
    qpv = [j * 3 + k for k in range(3)]
    return eligible_candidature(
        departement=dep, territory_name=f"Territoire {i}",
        communes=[{"insee_code": f"{dep}{(j + k) % 900 + 100:03d}", "name": f"Commune {i}-{k}"}
                  for k in range(2)],
        qpvs=[{"code": f"QN0{dep}{m % 100:02d}{chr(ord('A') + m // 100 % 26)}",
               "name": f"Quartier {i}-{m}", "population": 4200} for m in qpv],
        schools=schools, lead_college_uai=schools[0]["uai"],
        diagnostic="Diagnostic partagé du territoire. " * 10,
        action_plan="Plan d'actions. " * 10)


async def _read_labels(access: KafkaAccess, topic: str, expected: set[str],
                       sent_all: asyncio.Event, arrived: dict[str, float], timeout: float
                       ) -> None:
    """Record when each cité's event is read from Kafka, until every ``expected`` one is (the
    set is complete once ``sent_all`` is set)."""
    consumer = AIOKafkaConsumer(**access.client_kwargs(), enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        parts = None
        deadline = time.monotonic() + timeout
        while not parts:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic} never appeared")
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while not (sent_all.is_set() and expected <= arrived.keys()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(expected - arrived.keys())} events never arrived")
            batch = await consumer.getmany(*tps, timeout_ms=100)
            now = time.perf_counter()
            for records in batch.values():
                for record in records:
                    arrived.setdefault(record.key.decode(), now)
    finally:
        await consumer.stop()


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] * 1000


# --- The benchmark --------------------------------------------------------------------------------


def labelling_env(infra: Infra, db: ServiceDb, prefix: str) -> dict[str, str]:
    """``python -m labelling``'s environment in a bench: its schema, the bench's topic
    prefix and tokens, quiet logs, no expiry check during the run."""
    return {"LABELLING_DATABASE_URL": db.dsn, "LABELLING_DB_SCHEMA": db.schema,
            "LABELLING_TOPIC_PREFIX": prefix, "LABELLING_AUTH_MODE": "static",
            "LABELLING_TOKENS": json.dumps(TOKENS),
            "LABELLING_LOG_LEVEL": "WARNING", "LABELLING_EXPIRY_CHECK_INTERVAL_S": "86400",
            **kafka_env("labelling", infra)}


async def labelling_bench(infra: Infra, n: int, console: Console, *, concurrency: int = 16
                          ) -> list[Result]:
    """Label ``n`` candidatures over HTTP per round; the bare INSERT endpoint takes ``n``
    commands per round too. Rounds alternate between the two; the best of each counts."""
    tag = uuid.uuid4().hex[:8]
    prefix = f"bench{tag}."
    db = await new_service_db(infra, f"bench_{tag}")
    env = labelling_env(infra, db, prefix)
    try:
        from labelling.app import definition
        from labelling.settings import LabellingSettings

        await run_migrations(definition, LabellingSettings(database_url=db.dsn,
                                                           db_schema=db.schema))
        conn = await asyncpg.connect(db.dsn)
        try:
            await conn.execute("""CREATE TABLE bare_decisions (
                id bigserial PRIMARY KEY, candidature_id uuid NOT NULL, outcome text NOT NULL,
                motive text NOT NULL, decided_at timestamptz NOT NULL DEFAULT now())""")
        finally:
            await conn.close()
        decision = "/candidatures/{id}/decision"
        ours_port, bare_port = free_port(), free_port()
        async with _server(["-m", "labelling"], {**env, "LABELLING_HTTP_PORT": str(ours_port)},
                           ours_port, "labelling"), \
                _server(["-m", "uvicorn", "--factory", "bench.labelling_bench:bare_app",
                         "--port", str(bare_port), "--log-level", "warning", "--no-access-log"],
                        {"BENCH_DSN": db.dsn}, bare_port, "bare"):
            console.print(f"labelling: preparing {ROUNDS * n + WARM_UP:,} candidatures under "
                          "review…")
            ids = await _prepare(ours_port, ROUNDS * n + WARM_UP, concurrency)
            fake = [str(uuid.uuid4()) for _ in range(ROUNDS * n + WARM_UP)]
            await _drive(ours_port, ids[:WARM_UP], concurrency, decision, DECISION, NATIONAL,
                         Timings())
            await _drive(bare_port, fake[:WARM_UP], concurrency, decision, DECISION, None,
                         Timings())
            ours: list[tuple[float, Timings]] = []
            bare: list[tuple[float, Timings]] = []
            arrived: dict[str, float] = {}
            for r in range(ROUNDS):
                batch = slice(WARM_UP + r * n, WARM_UP + (r + 1) * n)
                timings = Timings()
                expected: set[str] = set()
                sent_all = asyncio.Event()
                reader = asyncio.create_task(_read_labels(
                    infra.kafka, f"{prefix}labelling.labels", expected, sent_all,
                    arrived, 300))
                elapsed = await _drive(ours_port, ids[batch], concurrency, decision, DECISION,
                                       NATIONAL, timings)
                expected.update(timings.cite_of.values())
                sent_all.set()
                await reader
                ours.append((n / elapsed, timings))
                bare_timings = Timings()
                bare_elapsed = await _drive(bare_port, fake[batch], concurrency, decision,
                                            DECISION, None, bare_timings)
                bare.append((n / bare_elapsed, bare_timings))
                console.print(f"  round {r + 1}: labelling {ours[-1][0]:,.0f} commands/s, "
                              f"bare {bare[-1][0]:,.0f} commands/s")
        rate, timings = max(ours, key=lambda x: x[0])
        baseline, bare_timings = max(bare, key=lambda x: x[0])
        http_ms = [timings.answered[c] - timings.sent[c] for c in timings.sent]
        to_kafka = [arrived[timings.cite_of[c]] - timings.sent[c] for c in timings.sent]
        after_answer = [arrived[timings.cite_of[c]] - timings.answered[c] for c in timings.sent]
        bare_ms = [bare_timings.answered[c] - bare_timings.sent[c] for c in bare_timings.sent]
        console.print(
            f"  labelling decisions (best round): {rate:,.0f} commands/s ({concurrency} in "
            f"flight); HTTP p50 {_pct(http_ms, 50):.1f} ms, p99 {_pct(http_ms, 99):.1f} ms; "
            f"command → event read on Kafka p50 {_pct(to_kafka, 50):.1f} ms, "
            f"p99 {_pct(to_kafka, 99):.1f} ms (after the HTTP answer: p50 "
            f"{_pct(after_answer, 50):.1f} ms, p99 {_pct(after_answer, 99):.1f} ms)")
        console.print(
            f"  bare FastAPI + 1 INSERT (best round): {baseline:,.0f} commands/s; HTTP p50 "
            f"{_pct(bare_ms, 50):.1f} ms, p99 {_pct(bare_ms, 99):.1f} ms; "
            f"ratio {rate / baseline:.2f}")
        return [Result("labelling: HTTP decision → Kafka", n, rate,
                       "bare FastAPI + 1 INSERT", baseline, "report")]
    finally:
        await drop_db(db)
        await delete_topics(infra.kafka, prefix)
