"""Services as separate processes (``python -m <name>``), on real Kafka and PostgreSQL,
for the cross-service end-to-end tests; and the flows a test drives through their APIs.
Labelling and partners always run; funding, notifications and the dashboard when a test
asks for them (``running_platform(..., funding=True, notifications=True, dashboard=True)``).
Notifications mails an SMTP server: the shared sink, or one the test runs itself
(:class:`SmtpSink`, which it may stop and start again) and reads (:meth:`SmtpSink.mails`).

Each service gets its own role and schema (``new_service_db``) and every process of a test
shares one topic prefix, so they see each other's topics and no other test's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email
import email.parser
import email.policy
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
from labelling.examples import CRITERIA_2024_SCORES, eligible_candidature

from cites_contracts.access import KafkaAccess, principal
from cites_runtime.kafka_admin import load_declarations, provision, remove_principals
from cites_runtime.testing import delete_topics, eventually, read_pages
from cites_runtime.testing.http import free_port
from cites_runtime.testing.infra import Infra, Keycloak
from cites_runtime.testing.plugin import ServiceDb, drop_db, new_service_db

REPO = Path(__file__).resolve().parents[2]
TOKENS = json.loads((REPO / "deploy" / "local" / "dev-tokens.json").read_text())
NATIONAL = {"Authorization": "Bearer dev-national"}
PREFECTURE_69 = {"Authorization": "Bearer dev-prefecture-69"}
VIEWER = {"Authorization": "Bearer dev-viewer"}
WAVE = "2024-generalisation"


def first_year_share(cents: int) -> int:
    """A yearly dotation of ``cents`` for a label decided today: funding prorates the year
    a label starts from its first day (whole euros)."""
    today = datetime.now(ZoneInfo("Europe/Paris")).date()
    in_year = (date(today.year, 12, 31) - date(today.year, 1, 1)).days + 1
    return cents * ((date(today.year, 12, 31) - today).days + 1) // in_year // 100 * 100
NOTIFICATIONS_SETTINGS = {
    "NOTIFICATIONS_SEND_INTERVAL_S": "0.2",
    "NOTIFICATIONS_RETRY_BASE_S": "0.5",
    "NOTIFICATIONS_RETRY_MAX_S": "2",
    "NOTIFICATIONS_MAX_ATTEMPTS": "100",
    "NOTIFICATIONS_CLAIM_LEASE_S": "3",
    "NOTIFICATIONS_SMTP_TIMEOUT_S": "5",
    "NOTIFICATIONS_SEND_BATCH": "10",
    "NOTIFICATIONS_WEBHOOK_ALLOW_PRIVATE_HOSTS_FOR_TESTS": "true",  # receivers on loopback
    "NOTIFICATIONS_WEBHOOK_RETRY_BASE_S": "0.5",
    "NOTIFICATIONS_WEBHOOK_RETRY_MAX_S": "2",
    "NOTIFICATIONS_WEBHOOK_MAX_ATTEMPTS": "100",
}
"""Notifications' environment in the end-to-end tests (``settings`` may change any of it):
an idle sender looks again every 0.2 s; a mail the server did not take is tried again
after 0.5 s, doubling to 2 s, up to 100 times — over a minute and a half, longer than the
outages the tests cause; a claim older than 3 s is a dead sender's, sent again; a sender
claims 10 mails at a time (so has at most 10 in flight). Webhooks alike, to receivers on
this machine (loopback allowed)."""


@dataclass
class ServiceProcess:
    """One service run as ``python -m <name>``, configured only by its environment."""

    name: str
    db: ServiceDb
    kafka: KafkaAccess
    """Its own principal, allowed what its declarations grant (as in `make run`)."""
    topic_prefix: str
    logs: Path
    settings: Mapping[str, str] = field(default_factory=dict)
    """More of its environment (``<NAME>_…`` settings), beyond the platform's."""
    issuer: str | None = None
    """People sign in at this identity provider (``AUTH_MODE`` oidc); None: the static
    development tokens (``AUTH_MODE`` static)."""
    port: int = field(default_factory=free_port)
    ops_port: int = field(default_factory=free_port)
    """Health, /metrics and the documents are there (``<NAME>_OPS_PORT``), as in compose
    and ``make run``: the dashboard's probe and the simulation read them without a token."""
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    replica: int = 1
    """Which process of the service this is (``replicas`` of :func:`running_platform`)."""
    shares_port: bool = False
    """Its API port is the other replicas' too (``<NAME>_HTTP_REUSE_PORT``)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ops_url(self) -> str:
        return f"http://127.0.0.1:{self.ops_port}"

    @property
    def env(self) -> dict[str, str]:
        p = self.name.upper() + "_"
        return {
            **os.environ,
            f"{p}DATABASE_URL": self.db.dsn,
            f"{p}DB_SCHEMA": self.db.schema,
            f"{p}KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap,
            f"{p}KAFKA_USERNAME": self.kafka.username or "",
            f"{p}KAFKA_PASSWORD": self.kafka.password or "",
            f"{p}TOPIC_PREFIX": self.topic_prefix,
            f"{p}HTTP_PORT": str(self.port),
            f"{p}HTTP_REUSE_PORT": str(self.shares_port).lower(),
            f"{p}OPS_PORT": str(self.ops_port),
            f"{p}ENVIRONMENT": "test",
            **({f"{p}AUTH_MODE": "static", f"{p}TOKENS": json.dumps(TOKENS)}
               if self.issuer is None else
               {f"{p}AUTH_MODE": "oidc", f"{p}OIDC_ISSUER": self.issuer}),
            f"{p}LOG_JSON": "true",
            f"{p}LOG_LEVEL": "WARNING",
            f"{p}RELAY_POLL_INTERVAL_S": "0.2",
            **self.settings,
        }

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``python -m <name> <args>`` to completion (migrate, dlq list, dlq replay)."""
        return subprocess.run([sys.executable, "-m", self.name, *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def migrate(self) -> None:
        done = self.cli("migrate")
        assert done.returncode == 0, f"{self.name} migrate failed:\n{done.stderr[-3000:]}"

    def spawn(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} is running"
        self.starts += 1
        with (self.logs / f"{self.stem}-{self.starts}.log").open("wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", self.name], env=self.env,
                                         stdout=log, stderr=subprocess.STDOUT)

    async def start(self, timeout: float = 180) -> None:
        """Start the process and wait until /health/ready says database and broker are ok."""
        self.spawn()
        # Readiness reads the database and the whole cluster's metadata (each within 2 s):
        # on a busy shared broker with thousands of topics it takes more than 2 s to answer.
        async with httpx.AsyncClient(timeout=10) as http:
            async def ready() -> bool:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n"
                                         + self.log_tail())
                try:
                    return (await http.get(f"{self.ops_url}/health/ready")).status_code \
                        == 200
                except httpx.HTTPError:
                    return False

            await eventually(ready, timeout=timeout, what=f"{self.name} ready")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, no offset commit — a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not stop in time (always ends the process)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()

    @property
    def stem(self) -> str:
        """Its log files' name: the service's, then ``.2``, ``.3`` for further replicas."""
        return self.name if self.replica == 1 else f"{self.name}.{self.replica}"

    def another(self) -> ServiceProcess:
        """One more replica of this service: its schema, principal, topics and API port
        (shared), an ops port of its own; not started. This one must share its port."""
        assert self.shares_port, f"{self.name} was not started to share its port"
        return dataclasses.replace(self, ops_port=free_port(), proc=None, starts=0,
                                   replica=self.replica + 1)

    def log_tail(self, chars: int = 3000) -> str:
        files = sorted(self.logs.glob(f"{self.stem}-*.log"))
        return files[-1].read_text(errors="replace")[-chars:] if files else ""


@dataclass
class Platform:
    labelling: ServiceProcess
    partners: ServiceProcess
    lab: httpx.AsyncClient
    par: httpx.AsyncClient
    topic_prefix: str
    kafka: KafkaAccess
    """The brokers as their administrator (what the tests read topics with)."""
    funding: ServiceProcess | None = None
    fun: httpx.AsyncClient | None = None
    """Funding's process and client, when the platform runs it."""
    notifications: ServiceProcess | None = None
    notif: httpx.AsyncClient | None = None
    """Notifications' process and client, when the platform runs it."""
    dashboard: ServiceProcess | None = None
    dash: httpx.AsyncClient | None = None
    """The dashboard's process and client, when the platform runs it."""
    resent: int = 0
    """Requests sent again because the service was away (503, or no answer)."""
    replicas: dict[str, list[ServiceProcess]] = field(default_factory=dict)
    """Every process of each service run as more than one (``running_platform``'s
    ``replicas``), the first (``self.partners``…) first."""
    national: dict[str, str] = field(default_factory=lambda: dict(NATIONAL))
    prefecture_69: dict[str, str] = field(default_factory=lambda: dict(PREFECTURE_69))
    viewer: dict[str, str] = field(default_factory=lambda: dict(VIEWER))
    """Who the platform's helpers act as: the static development tokens, or, on a platform
    signed in through Keycloak, its users' access tokens."""
    _drafts: int = 0

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    # -- labelling, through its HTTP API ---------------------------------------------
    async def label(self, lead_uai: str, *, territory: str | None = None,
                    lead_name: str = "Collège Aimé Césaire",
                    requested: int | None = None,
                    troika: list[dict[str, str]] | None = None) -> str:
        """Draft, submit, score and label a candidature (asking ``requested`` cents a year,
        and signed by ``troika`` — ``[{"role": "prefet", "email": …}, …]`` —, if given);
        returns the new cité's id.

        Like a careful client it sends a request again while the service is away (503,
        no answer: ``self.resent`` counts them); a 409 after a request whose answer was
        lost is accepted when the candidature shows that request took effect."""
        self._drafts += 1
        body = candidature(lead_uai, territory or f"Territoire {self._drafts}", lead_name,
                           qpv_code=qpv_code(self._drafts))
        if requested is not None:
            body["requested_annual_contribution"] = requested
        if troika is not None:
            body["troika"] = troika
        drafted = await self._send("POST", "/candidatures", 201, self.prefecture_69, body)
        cid = drafted["id"]
        path = f"/candidatures/{cid}"
        await self._send("POST", f"{path}/submission", 200, self.prefecture_69,
                         settled=self._at(path, "submitted", "under_review", "labelled"))
        await self._send("PUT", f"{path}/review", 200, self.national,
                         {"scores": CRITERIA_2024_SCORES},
                         settled=self._at(path, "under_review", "labelled"))
        decided = await self._send("POST", f"{path}/decision", 200, self.national,
                                   {"outcome": "label", "motive": "Dossier solide"},
                                   settled=self._at(path, "labelled"))
        return str(decided["cite_id"])

    async def cite_command(self, cite_id: str, action: str, body: dict[str, Any]) -> None:
        """``POST /cites/{id}/{action}`` (suspension, reinstatement, …) as the national
        coordination."""
        await self._send("POST", f"/cites/{cite_id}/{action}", 200, self.national, body)

    async def _send(self, method: str, path: str, ok: int, headers: dict[str, str],
                    body: Any = None, *,
                    settled: Callable[[], Awaitable[dict[str, Any] | None]] | None = None,
                    patience: float = 180.0) -> dict[str, Any]:
        deadline, uncertain = time.monotonic() + patience, False
        while True:
            try:
                response = await self.lab.request(method, path, json=body, headers=headers)
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code == ok:
                answer: dict[str, Any] = response.json()
                return answer
            lost = response is not None and response.status_code == 409 and uncertain
            if lost and settled is not None and (done := await settled()) is not None:
                return done
            if response is not None and response.status_code != 503:
                raise AssertionError(f"{method} {path}: {response.status_code} {response.text}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{method} {path}: no answer for {patience:.0f} s")
            uncertain = True  # a lost answer, or a 503 from a commit that failed late
            self.resent += 1
            await asyncio.sleep(0.2)

    def _at(self, path: str, *statuses: str) -> Callable[[], Awaitable[dict[str, Any] | None]]:
        async def check() -> dict[str, Any] | None:
            response = await self.lab.get(path, headers=self.national)
            found: dict[str, Any] = response.json()
            return found if response.status_code == 200 and found["status"] in statuses else None
        return check

    # -- partners, through its HTTP API -----------------------------------------------
    async def alliance(self, cite_id: str) -> dict[str, Any] | None:
        response = await self.par.get(f"/alliances/{cite_id}", headers=self.viewer)
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def wait_alliance(self, cite_id: str, timeout: float = 60) -> dict[str, Any]:
        found: dict[str, Any] = {}

        async def opened() -> bool:
            alliance = await self.alliance(cite_id)
            if alliance is not None:
                found.update(alliance)
            return alliance is not None

        await eventually(opened, timeout=timeout, what=f"partners shows {cite_id}'s alliance")
        return found

    # -- funding, through its HTTP API ------------------------------------------------
    @property
    def funds(self) -> httpx.AsyncClient:
        assert self.fun is not None, "this platform runs without funding"
        return self.fun

    async def funded_cite(self, cite_id: str) -> dict[str, Any] | None:
        """``GET /cites/{id}`` of funding: the cité's allocations, fonds, commitments."""
        response = await self.funds.get(f"/cites/{cite_id}", headers=self.viewer)
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def wait_funds(self, cite_id: str, condition: Callable[[dict[str, Any]], bool],
                         what: str, timeout: float = 60) -> dict[str, Any]:
        """Funding's view of the cité, once ``condition`` holds on it."""
        found: dict[str, Any] = {}

        async def holds() -> bool:
            cite = await self.funded_cite(cite_id)
            if cite is None or not condition(cite):
                return False
            found.update(cite)
            return True

        await eventually(holds, timeout=timeout, what=f"funding: {cite_id} {what}")
        return found

    async def open_envelope(self, programme: str, amount: int, year: int) -> str:
        """``POST /envelopes`` as the national coordination: ``programme``'s envelope of
        ``year`` for the wave; its id."""
        response = await self.funds.post("/envelopes", headers=NATIONAL, json={
            "name": f"{WAVE} {year} {programme}", "programme": programme,
            "budget_years": [year], "wave_ids": [WAVE], "amount": amount})
        assert response.status_code == 201, response.text
        return str(response.json()["envelope_id"])

    async def remaining(self, envelope_id: str) -> int:
        """What the envelope has left (funding's ``GET /envelopes/{id}``)."""
        response = await self.funds.get(f"/envelopes/{envelope_id}", headers=self.viewer)
        assert response.status_code == 200, response.text
        return int(response.json()["remaining"])

    async def register_partner(self, partner: dict[str, Any]) -> str:
        """``POST /partners`` as the national coordination (a new partner: 201)."""
        response = await self.par.post("/partners", headers=self.national, json=partner)
        assert response.status_code == 201, response.text
        return str(response.json()["partner_id"])

    async def add_contact(self, partner_id: str, name: str, address: str) -> str:
        """A contact of the partner consenting to the programme's mail; her id."""
        response = await self.par.post(f"/partners/{partner_id}/contacts", headers=self.national,
                                       json={"name": name, "email": address, "consent": True})
        assert response.status_code == 201, response.text
        return str(response.json()["contact_id"])

    # -- notifications, through its HTTP API ----------------------------------------
    @property
    def notices(self) -> httpx.AsyncClient:
        assert self.notif is not None, "this platform runs without notifications"
        return self.notif

    async def wait_addresses(self, partner_id: str, n: int, timeout: float = 60) -> None:
        """Wait until notifications' projection holds ``n`` addresses of the partner: her
        card (``partners.contacts``) and the partner's ``PartnerUpdated``
        (``partners.partners``), two topics. Only then does an event about the partner
        find whom to mail. (Read in notifications' schema: its API does not show it.)"""
        assert self.notifications is not None, "this platform runs without notifications"
        db = await asyncpg.connect(self.notifications.db.dsn)
        try:
            async def known() -> bool:
                return int(await db.fetchval(
                    """SELECT count(*) FROM partner_contacts JOIN contacts USING (contact_id)
                       WHERE partner_contacts.partner_id = $1""", uuid.UUID(partner_id))) >= n

            await eventually(known, timeout=timeout,
                             what=f"notifications knows {n} address(es) of {partner_id}")
        finally:
            await db.close()

    async def delivery_log(self, **params: str) -> list[dict[str, Any]]:
        """``GET /notifications`` as the national coordination (``cite_id=``,
        ``cause_event_id=``, ``contact_id=``): who was told of what, by reference."""
        pages = await read_pages(self.notices, "/notifications", headers=self.national,
                                 limit=200, **params)
        return [n for page in pages for n in page]


def at_least(db: asyncpg.Connection, sql: str, n: int) -> Callable[[], Awaitable[bool]]:
    """For ``eventually``: whether the count ``sql`` reads on ``db`` has reached ``n``."""
    async def check() -> bool:
        return int(await db.fetchval(sql)) >= n
    return check


@asynccontextmanager
async def running_platform(infra: Infra, logs: Path, *, funding: bool = False,
                           notifications: bool = False, dashboard: bool = False,
                           smtp: tuple[str, int] | None = None,
                           settings: Mapping[str, str] | None = None,
                           keycloak: Keycloak | None = None,
                           replicas: Mapping[str, int] | None = None,
                           ) -> AsyncIterator[Platform]:
    """Labelling and partners (and funding, notifications, the dashboard if asked) as
    processes, each on a fresh schema, sharing a fresh topic prefix; stopped, and their
    schemas and topics removed, whatever happens. Notifications mails the SMTP server
    ``smtp`` (host, port), by default the shared sink, with :data:`NOTIFICATIONS_SETTINGS`.
    The dashboard probes the other processes (their ops ports in ``DASHBOARD_SERVICES``) every
    second, and its page asks for the summary every second. ``settings`` adds to the
    processes' environment (``FUNDING_…`` reaches funding only). With ``keycloak``, people
    sign in there (the services take its tokens only) and the helpers act as its users
    ``national``, ``prefecture-69`` and ``viewer``. ``replicas`` (``{"partners": 2}``) runs
    a service as that many processes: one group, one schema, one API port (shared)."""
    tag = uuid.uuid4().hex[:8]
    prefix = f"e2e{tag}."
    names = (["labelling", "partners"] + (["funding"] if funding else [])
             + (["notifications"] if notifications else [])
             + (["dashboard"] if dashboard else []))
    env = dict(settings or {})
    if notifications:
        if smtp is None:
            assert infra.smtp_host and infra.smtp_port, "no SMTP server for notifications"
            smtp = (infra.smtp_host, infra.smtp_port)
        env = {**NOTIFICATIONS_SETTINGS, "NOTIFICATIONS_SMTP_HOST": smtp[0],
               "NOTIFICATIONS_SMTP_PORT": str(smtp[1]), **env}
    dbs = [await new_service_db(infra, f"e2e_{name}_{tag}") for name in names]
    passwords = {name: secrets.token_urlsafe(18) for name in names}
    issuer = keycloak.issuer if keycloak is not None else None
    services = [ServiceProcess(name, db, infra.kafka.as_user(principal(name, prefix),
                                                             passwords[name]),
                               prefix, logs, settings=env, issuer=issuer)
                for name, db in zip(names, dbs, strict=True)]
    copies = _replicas(services, replicas or {})
    if dashboard:
        services[-1].settings = {
            "DASHBOARD_SERVICES": json.dumps({s.name: s.ops_url for s in services[:-1]}),
            "DASHBOARD_HEALTH_INTERVAL_S": "1", "DASHBOARD_REFRESH_S": "1", **env}
    try:
        # As `make run` and compose do, before any service starts: the whole catalogue,
        # each service's principal and the ACLs its declarations grant.
        await provision(infra.kafka, names, load_declarations(REPO.glob(
            "services/*/consumes.json")), prefix=prefix, passwords=passwords)
        # The topics exist already: the services migrate, then start, side by side (each
        # process spends seconds importing and joining its consumer group).
        await _each(asyncio.to_thread(service.migrate) for service in services)
        await _each(service.start() for service in [*services, *copies])
        async with AsyncExitStack() as clients:
            http = {s.name: await clients.enter_async_context(
                httpx.AsyncClient(base_url=s.url, timeout=30)) for s in services}
            by_name = {s.name: s for s in services}
            platform = Platform(by_name["labelling"], by_name["partners"], http["labelling"],
                                http["partners"], prefix, infra.kafka,
                                funding=by_name.get("funding"), fun=http.get("funding"),
                                notifications=by_name.get("notifications"),
                                notif=http.get("notifications"),
                                dashboard=by_name.get("dashboard"), dash=http.get("dashboard"),
                                replicas={name: [by_name[name], *(c for c in copies
                                                                  if c.name == name)]
                                          for name in replicas or {}})
            if keycloak is not None:
                platform.national, platform.prefecture_69, platform.viewer = [
                    {"Authorization": f"Bearer {await keycloak.token(user)}"}
                    for user in ("national", "prefecture-69", "viewer")]
            yield platform
    finally:
        for service in reversed([*services, *copies]):
            service.stop()
        for db in dbs:
            await drop_db(db)
        await delete_topics(infra.kafka, prefix)
        await asyncio.to_thread(remove_principals, infra.kafka,
                                [principal(name, prefix) for name in names])


def _replicas(services: list[ServiceProcess], counts: Mapping[str, int]
              ) -> list[ServiceProcess]:
    """The further processes of each service ``counts`` names (its API port then shared by
    all of them)."""
    copies = []
    for service in services:
        last = service
        for _ in range(counts.get(service.name, 1) - 1):
            service.shares_port = True
            last = last.another()
            copies.append(last)
    return copies


async def _each(steps: Iterable[Awaitable[None]]) -> None:
    """Run the steps at once, and wait for all of them; the first failure is raised."""
    failures = [r for r in await asyncio.gather(*steps, return_exceptions=True)
                if isinstance(r, BaseException)]
    if failures:
        raise failures[0]


def qpv_code(n: int) -> str:
    """The n-th of 2,600 distinct QPV codes of the Rhône (a QPV belongs to one cité)."""
    return f"QN069{n % 100:02d}{chr(ord('A') + n // 100 % 26)}"


def candidature(lead_uai: str, territory: str, lead_name: str, *, qpv_code: str
                ) -> dict[str, Any]:
    """A candidature eligible in the 2024 wave, in the Rhône, led by ``lead_uai``, around
    the QPV ``qpv_code``."""
    return eligible_candidature(
        wave_id=WAVE, territory_name=territory, lead_college_uai=lead_uai,
        qpvs=[{"code": qpv_code, "name": f"Quartier {qpv_code}", "population": 5200}],
        schools=[{"uai": lead_uai, "kind": "college", "name": lead_name,
                  "education_priority": "rep_plus"},
                 {"uai": "0695678B", "kind": "ecole", "name": "École Jean Vilar",
                  "education_priority": "rep"}])


@dataclass
class SmtpSink:
    """The project's SMTP sink (``deploy/local/smtp_sink.py``, aiosmtpd) as a process of
    the test's own: on ``port``, keeping each message it accepts as one ``.eml`` in
    ``maildir``. The test may stop it (SIGTERM: it finishes the session in progress; or
    SIGKILL) and start it again on the same port."""

    maildir: Path
    logs: Path
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def start(self, timeout: float = 30) -> None:
        """Start it and wait for its SMTP greeting."""
        assert self.proc is None or self.proc.poll() is not None, "the sink is running"
        self.starts += 1
        with (self.logs / f"smtp-sink-{self.starts}.log").open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-P", str(REPO / "deploy" / "local" / "smtp_sink.py"),
                 "--host", self.host, "--port", str(self.port), "--maildir", str(self.maildir)],
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not self._greets():
            if self.proc.poll() is not None:
                raise AssertionError(f"the SMTP sink exited with {self.proc.returncode}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the SMTP sink not answering on {self.port}")
            time.sleep(0.05)

    def _greets(self) -> bool:
        try:
            with socket.create_connection(self.address, timeout=1) as s:
                return s.recv(64).startswith(b"220")
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM (the sink ends the SMTP session in progress), SIGKILL after 10 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def count(self) -> int:
        """How many messages it has accepted (files appear whole: written, then renamed)."""
        return sum(1 for _ in self.maildir.glob("*.eml"))

    def message_ids(self) -> list[str]:
        """The Message-ID of every message it accepted, in arrival order (headers only)."""
        parser = email.parser.BytesHeaderParser(policy=email.policy.default)
        found = []
        for path in sorted(self.maildir.glob("*.eml")):
            with path.open("rb") as f:
                found.append(str(parser.parse(f)["Message-ID"]))
        return found

    async def wait_mail(self, to: str, subject_part: str, timeout: float = 60) -> None:
        """Wait for a message to ``to`` whose subject contains ``subject_part``."""
        async def there() -> bool:
            return any(m["To"] == to and subject_part in m["Subject"] for m in self.mails())

        await eventually(there, timeout=timeout, every=0.2,
                         what=f"a mail to {to} about {subject_part!r}")

    def mails(self) -> list[EmailMessage]:
        """Every message it accepted, in arrival order, parsed (``email.policy.default``)."""
        return [email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                for path in sorted(self.maildir.glob("*.eml"))]  # type: ignore[misc]
