"""Test kit of the labelling service: builders of valid data (start from an eligible dossier,
change one thing), tokens, the in-process service handle and flow helpers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from labelling.domain import (
    CRITERIA_2019,
    CRITERIA_2024,
    Actor,
    Candidature,
    CandidatureIn,
    Dossier,
    FilingWindow,
    Label,
    Outcome,
    Wave,
    WaveStatus,
    first_period,
)

from cites_contracts import Envelope, Event
from cites_contracts.types import ActorRole
from cites_runtime.app import Runtime
from cites_runtime.settings import TokenGrant

NOW = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)
TODAY = date(2025, 3, 10)

PREFECTURE_69 = Actor(ActorRole.PREFECTURE, "pref-69", "69")
PREFECTURE_93 = Actor(ActorRole.PREFECTURE, "pref-93", "93")
NATIONAL = Actor(ActorRole.NATIONAL_COORDINATION, "coordination")

WAVE_2024 = "2024-generalisation"


class FakeClock:
    """The service's clock in tests: fixed, moved by hand."""

    def __init__(self, now: datetime = NOW):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def set_date(self, day: date) -> None:
        self.now = datetime(day.year, day.month, day.day, 9, 30, tzinfo=UTC)


def commune(insee_code: str = "69256", name: str = "Vaulx-en-Velin") -> dict[str, Any]:
    return {"insee_code": insee_code, "name": name}


def qpv(code: str = "QN06901M", population: int = 5200, name: str = "Grande Île"
        ) -> dict[str, Any]:
    return {"code": code, "name": name, "population": population}


def school(uai: str = "0691234A", kind: str = "college", priority: str = "rep_plus",
           name: str = "Collège Aimé Césaire") -> dict[str, Any]:
    return {"uai": uai, "kind": kind, "name": name, "education_priority": priority}


def dossier_body(*, wave_id: str = WAVE_2024, departement: str = "69", **overrides: Any
                 ) -> dict[str, Any]:
    """The JSON of a candidature eligible under every rule set (2019, 2021 and 2024)."""
    body: dict[str, Any] = {
        "wave_id": wave_id,
        "departement": departement,
        "territory_name": "Vaulx-en-Velin",
        "communes": [commune()],
        "qpvs": [qpv()],
        "schools": [school(), school("0695678B", "ecole", "rep", "École Jean Vilar")],
        "lead_college_uai": "0691234A",
        "troika": [{"role": "prefet", "email": "prefet@rhone.gouv.fr"},
                   {"role": "recteur", "email": "recteur@ac-lyon.fr"},
                   {"role": "maire", "email": "cabinet@mairie-vaulxenvelin.fr"}],
        "npnru_project": "national",
        "reconquest_zone": True,
        "diagnostic": "Un quart des jeunes de 16 à 25 ans sans diplôme ni emploi.",
        "objectives": {"school_role": "Conforter le rôle de l'école",
                       "educational_continuity": "Continuité éducative de 0 à 25 ans",
                       "opportunities": "Ouvrir le champ des possibles"},
        "governance": "Troïka, comité de pilotage trimestriel, chef de projet opérationnel.",
        "action_plan": "Petits déjeuners, cordées de la réussite, accueil des parents.",
        "requested_annual_contribution": 25_000_000,
    }
    body.update(overrides)
    return body


def dossier(**overrides: Any) -> Dossier:
    body = dossier_body(**overrides)
    del body["wave_id"], body["departement"]
    return Dossier.model_validate(body)


def candidature_in(**overrides: Any) -> CandidatureIn:
    return CandidatureIn.model_validate(dossier_body(**overrides))


def wave(rule_set: str = "2024-v1", *, id: str = WAVE_2024, window: FilingWindow | None = None,
         criteria: tuple[str, ...] | None = None, status: WaveStatus = WaveStatus.OPEN) -> Wave:
    if criteria is None:
        criteria = CRITERIA_2024 if rule_set == "2024-v1" else CRITERIA_2019
    w = Wave.plan(id=id, year=int(id[:4]), title=f"Vague {id}", rule_set=rule_set,
                  filing=window, review_criteria=criteria, target_count=100)
    w.status = status
    return w


def draft(w: Wave | None = None, **overrides: Any) -> Candidature:
    from uuid import uuid4

    w = w or wave()
    return Candidature.draft(id=uuid4(), wave=w, departement="69", dossier=dossier(**overrides),
                             actor=PREFECTURE_69, now=NOW)


def submitted(w: Wave | None = None, **overrides: Any) -> Candidature:
    w = w or wave()
    c = draft(w, **overrides)
    c.submit(wave=w, actor=PREFECTURE_69, now=NOW, today=TODAY)
    return c


def fully_scored(w: Wave | None = None, score: int = 4) -> Candidature:
    w = w or wave()
    c = submitted(w)
    c.score(wave=w, scores={k: (score, "") for k in w.review_criteria}, actor=NATIONAL, now=NOW)
    return c


def labelled(w: Wave | None = None, *, on: date = TODAY, years: int = 3) -> Label:
    w = w or wave()
    c = fully_scored(w)
    label, _ = c.label(wave=w, cite_id="cite-001", period=first_period(on, years),
                       convention_signed_on=None, motive="Dossier solide", actor=NATIONAL,
                       now=NOW)
    return label


TOKENS = {
    "tok-national": TokenGrant(role="national", subject="coordination-nationale"),
    "tok-prefecture-69": TokenGrant(role="prefecture", departement="69", subject="pref-69"),
    "tok-prefecture-93": TokenGrant(role="prefecture", departement="93", subject="pref-93"),
    "tok-viewer": TokenGrant(role="viewer", subject="viewer"),
    "tok-partner": TokenGrant(role="partner", subject="partner"),
}
AS_NATIONAL = {"Authorization": "Bearer tok-national"}
AS_PREF_69 = {"Authorization": "Bearer tok-prefecture-69"}
AS_PREF_93 = {"Authorization": "Bearer tok-prefecture-93"}
AS_VIEWER = {"Authorization": "Bearer tok-viewer"}
AS_PARTNER = {"Authorization": "Bearer tok-partner"}


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 20.0,
                     what: str = "condition") -> None:
    """Bounded polling: no test waits on a fixed sleep."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        await asyncio.sleep(0.05)


@dataclass
class Service:
    """The labelling service in-process: HTTP over ASGI, its runtime, and the events its
    relay published on the in-memory broker."""

    http: httpx.AsyncClient
    runtime: Runtime
    published: list[Envelope[Event]] = field(default_factory=list)

    async def outbox(self) -> list[str]:
        """Types of the events committed so far, in commit order."""
        rows = await self.runtime.pool.fetch("SELECT event_type FROM outbox ORDER BY id")
        return [r["event_type"] for r in rows]

    async def published_types(self, count: int) -> list[str]:
        await eventually(lambda: _at_least(self.published, count), what=f"{count} events")
        return [e.type for e in self.published]

    # -- flows over HTTP ---------------------------------------------------------------
    async def draft(self, headers: dict[str, str] = AS_PREF_69, **overrides: Any) -> str:
        r = await self.http.post("/candidatures", json=dossier_body(**overrides),
                                 headers=headers)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def submitted(self, **overrides: Any) -> str:
        cid = await self.draft(**overrides)
        r = await self.http.post(f"/candidatures/{cid}/submission", headers=AS_PREF_69)
        assert r.status_code == 200, r.text
        return cid

    async def under_review(self, score: int = 4, **overrides: Any) -> str:
        cid = await self.submitted(**overrides)
        r = await self.http.put(f"/candidatures/{cid}/review", headers=AS_NATIONAL, json={
            "scores": {c: {"score": score} for c in CRITERIA_2024}})
        assert r.status_code == 200, r.text
        return cid

    async def labelled(self, **overrides: Any) -> tuple[str, str]:
        """A labelled cité: (candidature id, cité id)."""
        cid = await self.under_review(**overrides)
        r = await self.http.post(f"/candidatures/{cid}/decision", headers=AS_NATIONAL,
                                 json={"outcome": "label", "motive": "Dossier solide"})
        assert r.status_code == 200, r.text
        return cid, str(r.json()["cite_id"])


async def _at_least(items: list[Any], n: int) -> bool:
    return len(items) >= n


__all__ = [
    "AS_NATIONAL",
    "AS_PARTNER",
    "AS_PREF_69",
    "AS_PREF_93",
    "AS_VIEWER",
    "NATIONAL",
    "NOW",
    "PREFECTURE_69",
    "PREFECTURE_93",
    "TODAY",
    "TOKENS",
    "WAVE_2024",
    "FakeClock",
    "Outcome",
    "Service",
    "candidature_in",
    "commune",
    "dossier",
    "dossier_body",
    "draft",
    "eventually",
    "fully_scored",
    "labelled",
    "qpv",
    "school",
    "submitted",
    "wave",
]


async def label_through_service(runtime: Runtime, **overrides: Any) -> str:
    """A cité labelled by calling the use cases directly (no HTTP); returns its id."""
    from labelling import service

    c = await service.draft_candidature(runtime, candidature_in(**overrides), PREFECTURE_69)
    await service.submit_candidature(runtime, c.id, PREFECTURE_69)
    await service.score_candidature(runtime, c.id, {k: (4, "") for k in CRITERIA_2024},
                                    NATIONAL)
    c = await service.decide(runtime, c.id, Outcome.LABEL, "Dossier solide", actor=NATIONAL)
    assert c.cite_id is not None
    return c.cite_id


async def all_published(runtime: Runtime) -> None:
    """Wait until the relay has every committed event acknowledged by Kafka."""
    async def done() -> bool:
        pending: int = await runtime.pool.fetchval(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL")
        return pending == 0

    await eventually(done, what="outbox fully published")
