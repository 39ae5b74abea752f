"""Where the platform listens and who the simulation acts as: the four services' URLs, the
bearer tokens of the national coordination, the préfectures and a viewer — static tokens
from a file, or access tokens of the identity provider the simulation signs in at —,
Kafka and its topic prefix, the SMTP sink's maildir; and an HTTP client that names what
failed."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from cites_contracts.access import KafkaAccess
from cites_contracts.types import DEPARTEMENTS

__all__ = ["Api", "Endpoints", "SignIn", "SimError", "Tokens"]

SERVICES = ("labelling", "partners", "funding", "notifications")


class SimError(RuntimeError):
    """The platform refused or failed a step the simulation needed."""


@dataclass
class SignIn:
    """The identity provider's token endpoint and how the simulation signs in there: the
    password grant of ``client_id`` (``cites-cli``, in the development realm only) for the
    development users, who all share ``password``."""

    token_endpoint: str
    client_id: str = "cites-cli"
    password: str = "cites-dev"
    users: dict[str, str] = field(default_factory=dict)
    """Token → the user it was issued to (to renew it)."""

    @classmethod
    async def at(cls, issuer: str, **given: Any) -> SignIn:
        """Sign-in at ``issuer`` (its discovery document names the token endpoint)."""
        url = f"{issuer.rstrip('/')}/.well-known/openid-configuration"
        try:
            async with httpx.AsyncClient(timeout=30) as http:
                found = (await http.get(url)).raise_for_status().json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SimError(f"the identity provider does not answer at {url}: {exc!r}") from exc
        return cls(str(found["token_endpoint"]), **given)

    async def token(self, http: httpx.AsyncClient, username: str) -> str | None:
        """An access token of ``username``; None when the provider knows no such user."""
        answer = await http.post(self.token_endpoint, data={
            "grant_type": "password", "client_id": self.client_id, "username": username,
            "password": self.password})
        if answer.status_code in (400, 401) and "invalid_grant" in answer.text:
            return None
        if answer.status_code != 200:
            raise SimError(f"the identity provider refused {username} a token: "
                           f"{answer.status_code} {answer.text[:300]}")
        token = str(answer.json()["access_token"])
        self.users[token] = username
        return token


@dataclass(frozen=True)
class Tokens:
    national: str
    viewer: str
    prefectures: dict[str, str]
    """Département → the token of its préfecture."""
    provider: SignIn | None = None
    """Where these tokens were signed in for (None: static tokens), to renew them."""
    renewed: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    """A token → the one that replaced it once it expired."""

    @classmethod
    async def sign_in(cls, provider: SignIn, *, departements: Iterable[str] = DEPARTEMENTS,
                      at_once: int = 16) -> Tokens:
        """Access tokens of the development users ``national``, ``viewer`` and
        ``prefecture-<département>`` for each of ``departements`` the provider knows."""
        gate = asyncio.Semaphore(at_once)
        async with httpx.AsyncClient(timeout=30) as http:
            async def token(username: str) -> str | None:
                async with gate:
                    return await provider.token(http, username)

            national, viewer = await token("national"), await token("viewer")
            wanted = sorted(set(departements))
            found = await asyncio.gather(*(token(f"prefecture-{d}") for d in wanted))
        if national is None or viewer is None:
            raise SimError("the identity provider knows no user national or viewer: is it "
                           "the development realm (deploy/keycloak/cites-realm.json)?")
        return cls(national=national, viewer=viewer, provider=provider,
                   prefectures={d: t for d, t in zip(wanted, found, strict=True) if t})

    def current(self, token: str) -> str:
        """``token``, or what replaced it since it expired."""
        while token in self.renewed:
            token = self.renewed[token]
        return token

    async def renew(self, token: str) -> str | None:
        """A new token for whoever ``token`` was issued to (None: static tokens are not
        renewed)."""
        if self.provider is None or (user := self.provider.users.get(token)) is None:
            return None
        async with httpx.AsyncClient(timeout=30) as http:
            fresh = await self.provider.token(http, user)
        if fresh is not None:
            self.renewed[token] = fresh
        return fresh

    @classmethod
    def from_grants(cls, grants: dict[str, dict[str, Any]]) -> Tokens:
        """From a tokens file's ``{token: {"role", "departement"?}}`` (the services' own
        ``*_TOKENS`` setting, e.g. ``deploy/local/dev-tokens.json``)."""
        national = [t for t, g in grants.items() if g.get("role") == "national"]
        viewer = [t for t, g in grants.items() if g.get("role") == "viewer"]
        if not national:
            raise SimError("the tokens grant no national coordination token")
        prefectures = {str(g["departement"]): t for t, g in grants.items()
                       if g.get("role") == "prefecture" and g.get("departement")}
        return cls(national=national[0], viewer=(viewer or national)[0],
                   prefectures=prefectures)

    @classmethod
    def from_file(cls, path: Path) -> Tokens:
        return cls.from_grants(json.loads(path.read_text()))

    def prefecture(self, departement: str) -> str:
        try:
            return self.prefectures[departement]
        except KeyError:
            raise SimError(f"no préfecture token for département {departement}") from None


@dataclass(frozen=True)
class Endpoints:
    labelling: str
    partners: str
    funding: str
    notifications: str
    tokens: Tokens
    kafka: KafkaAccess = field(default_factory=lambda: KafkaAccess("127.0.0.1:19092"))
    """Kafka as a principal that may read the topics and groups' offsets (the
    administrator, or a reader: ``python -m cites_runtime.kafka_admin reader``)."""
    topic_prefix: str = ""
    maildir: Path | None = None
    mailpit: str | None = None
    """The SMTP sink as Mailpit's HTTP API (``docker compose``), instead of a maildir."""
    consumers: tuple[str, ...] = ("labelling", "partners", "funding", "notifications")
    """The services that consume events (their consumer groups and dead letters)."""
    ops: dict[str, str] = field(default_factory=dict)
    """Service → its ops port's URL (``<SERVICE>_OPS_PORT``: ``/metrics`` is there);
    a service not named serves ``/metrics`` on its API's URL."""

    def url(self, service: str) -> str:
        return str(getattr(self, service)).rstrip("/")

    def ops_url(self, service: str) -> str:
        return self.ops.get(service, self.url(service)).rstrip("/")

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"


@dataclass
class Api:
    """One HTTP client per service. A request the service did not take (503, no
    connection) is sent again for ``patience`` seconds; any other unexpected status is a
    :class:`SimError` naming the request and the answer."""

    endpoints: Endpoints
    clients: dict[str, httpx.AsyncClient]
    patience: float = 60.0
    requests: int = 0
    by_service: dict[str, int] = field(default_factory=dict)

    @classmethod
    @asynccontextmanager
    async def open(cls, endpoints: Endpoints, *, connections: int = 20) -> AsyncIterator[Api]:
        # An idle connection is dropped after 1 s, before the server (uvicorn: 5 s) closes
        # it: a command is never sent on a connection the server is closing (the run waits
        # for the platform between phases, long enough for that race).
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections,
                              keepalive_expiry=1.0)
        clients = {s: httpx.AsyncClient(base_url=endpoints.url(s), timeout=60, limits=limits)
                   for s in SERVICES}
        try:
            yield cls(endpoints, clients)
        finally:
            await asyncio.gather(*(c.aclose() for c in clients.values()))

    @property
    def tokens(self) -> Tokens:
        return self.endpoints.tokens

    async def call(self, service: str, method: str, path: str, *, token: str,
                   body: Any = None, ok: tuple[int, ...] = (200, 201),
                   params: dict[str, Any] | None = None,
                   key: str | None = None) -> Any:
        token = self.tokens.current(token)
        headers = {"Authorization": f"Bearer {token}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        deadline = time.monotonic() + self.patience
        renewed = False
        while True:
            self.requests += 1
            self.by_service[service] = self.by_service.get(service, 0) + 1
            try:
                response = await self.clients[service].request(method, path, json=body,
                                                                headers=headers, params=params)
            except httpx.TransportError as exc:
                # Not sent (no connection), or a read that is safe to repeat: again. A
                # command whose connection broke mid-way may have taken effect: say so.
                unsent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout
                                    | httpx.PoolTimeout)
                if not unsent and method not in ("GET", "PUT"):
                    raise SimError(f"{service} {method} {path}: the connection broke "
                                   f"({exc!r}); whether it took effect is unknown") from exc
                if time.monotonic() > deadline:
                    raise SimError(f"{service} {method} {path}: no answer ({exc!r}) from "
                                   f"{self.endpoints.url(service)}") from exc
                await asyncio.sleep(0.5)
                continue
            if response.status_code in ok:
                return response.json() if response.content else None
            if response.status_code == 401 and not renewed and (
                    fresh := await self.tokens.renew(token)) is not None:
                renewed, token = True, fresh  # it expired: signed in again, sent again
                headers["Authorization"] = f"Bearer {fresh}"
                continue
            if response.status_code == 503 and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                continue
            raise SimError(f"{service} {method} {path}: {response.status_code} "
                           f"{response.text[:800]}")

    async def pages(self, service: str, path: str, *, token: str,
                    params: dict[str, Any] | None = None, limit: int = 200
                    ) -> list[dict[str, Any]]:
        """Every item of a paged list (``items``, ``next_cursor``)."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            query = {**(params or {}), "limit": limit, **({"cursor": cursor} if cursor else {})}
            page = await self.call(service, "GET", path, token=token, params=query, ok=(200,))
            found.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return found
