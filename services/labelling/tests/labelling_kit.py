"""Test kit of the labelling service: builders of valid data (start from an eligible dossier,
change one thing), the service under test with its flows. Tokens, the clock and the
harness are the runtime's (``cites_runtime.testing``)."""

from __future__ import annotations

import itertools
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
from labelling import service
from labelling.api.candidatures import CandidatureIn
from labelling.domain import (
    CRITERIA_2019,
    CRITERIA_2024,
    Candidature,
    Dossier,
    FilingWindow,
    Label,
    Outcome,
    Wave,
    WaveStatus,
    first_period,
)
from labelling.examples import CRITERIA_2024_SCORES, eligible_candidature

from cites_contracts import Envelope, Event
from cites_contracts.types import QpvList
from cites_runtime.actor import Actor, Role
from cites_runtime.app import Runtime
from cites_runtime.testing import (
    AS_NATIONAL,
    AS_PREFECTURE_69,
    NOW,
    ServiceUnderTest,
    eventually,
)

TODAY = NOW.date()

PREFECTURE_69 = Actor(Role.PREFECTURE, "pref-69", "69")
PREFECTURE_93 = Actor(Role.PREFECTURE, "pref-93", "93")
NATIONAL = Actor(Role.NATIONAL, "coordination")

WAVE_2024 = "2024-generalisation"


def commune(insee_code: str = "69256", name: str = "Vaulx-en-Velin") -> dict[str, Any]:
    return {"insee_code": insee_code, "name": name}


def qpv(code: str = "QN06901M", population: int = 5200, name: str = "Grande Île"
        ) -> dict[str, Any]:
    return {"code": code, "name": name, "population": population}


def school(uai: str = "0691234A", kind: str = "college", priority: str = "rep_plus",
           name: str = "Collège Aimé Césaire") -> dict[str, Any]:
    return {"uai": uai, "kind": kind, "name": name, "education_priority": priority}


def own_territory(n: int, *, but: Collection[str] = ()) -> dict[str, Any]:
    """The n-th distinct territory of the Rhône, for a test that files several candidatures:
    its own QPV and lead collège (each belongs to one cité or pending candidature at a
    time), but for the fields ``but`` names; n = 0 is the example's (QN06901M, 0691234A)."""
    if n == 0:
        return {}
    lead = f"069{n:04d}T"
    own: dict[str, Any] = {}
    if "qpvs" not in but:
        own["qpvs"] = [qpv(f"QN069{n % 100:02d}{'TUVWXYZ'[n // 100 % 7]}")]
    if not {"lead_college_uai", "schools"} & set(but):
        own["lead_college_uai"] = lead
        own["schools"] = [school(lead, name=f"Collège {n}"),
                          school("0695678B", "ecole", "rep", "École Jean Vilar")]
    return own


def dossier_body(*, wave_id: str = WAVE_2024, departement: str = "69", **overrides: Any
                 ) -> dict[str, Any]:
    """The JSON of a candidature eligible under every rule set (2019, 2021 and 2024)."""
    return eligible_candidature(wave_id=wave_id, departement=departement, **overrides)


def dossier(**overrides: Any) -> Dossier:
    body = dossier_body(**overrides)
    del body["wave_id"], body["departement"]
    return Dossier.model_validate(body)


def candidature_in(**overrides: Any) -> CandidatureIn:
    return CandidatureIn.model_validate(dossier_body(**overrides))


def wave(rule_set: str = "2024-v1", *, id: str = WAVE_2024, window: FilingWindow | None = None,
         criteria: tuple[str, ...] | None = None, status: WaveStatus = WaveStatus.OPEN,
         qpv_list: QpvList = QpvList.LIST_2024) -> Wave:
    if criteria is None:
        criteria = CRITERIA_2024 if rule_set == "2024-v1" else CRITERIA_2019
    w = Wave.plan(id=id, year=int(id[:4]), title=f"Vague {id}", rule_set=rule_set,
                  filing=window, review_criteria=criteria, target_count=100,
                  qpv_list=qpv_list)
    w.status = status
    return w


def draft(w: Wave | None = None, *, by: Actor = PREFECTURE_69, **overrides: Any
          ) -> Candidature:
    from uuid import uuid4

    w = w or wave()
    departement = by.departement or "69"
    return Candidature.draft(id=uuid4(), wave=w, departement=departement,
                             dossier=dossier(**overrides), actor=by, now=NOW)


def submitted(w: Wave | None = None, *, by: Actor = PREFECTURE_69, **overrides: Any
              ) -> Candidature:
    w = w or wave()
    c = draft(w, by=by, **overrides)
    c.submit(wave=w, actor=by, now=NOW, today=TODAY)
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
                       decided_on=on, convention_signed_on=None, motive="Dossier solide",
                       actor=NATIONAL, now=NOW)
    return label


@dataclass
class Labelling:
    """The labelling service under test, with the flows its tests repeat."""

    running: ServiceUnderTest
    drafted: int = 0
    """Candidatures drafted so far: each gets a territory of its own (:func:`own_territory`)
    unless the test names its QPVs, lead collège or schools."""

    @property
    def http(self) -> httpx.AsyncClient:
        return self.running.http

    @property
    def runtime(self) -> Runtime[Any]:
        return self.running.runtime

    @property
    def published(self) -> list[Envelope[Event]]:
        return self.running.published

    async def outbox(self, *, cards: bool = False) -> list[str]:
        """Types of the events committed so far, in commit order; the troïka's contact
        cards (three per submission, on labelling.contacts) only if ``cards``."""
        return [e.type for e in await self.running.outbox()
                if cards or e.type != "labelling.TroikaContactPublished"]

    async def published_types(self, count: int, *, cards: bool = False) -> list[str]:
        """The first ``count`` events the relay published (cards only if ``cards``)."""
        def seen() -> list[str]:
            return [e.type for e in self.published
                    if cards or e.type != "labelling.TroikaContactPublished"]

        async def enough() -> bool:
            return len(seen()) >= count

        await eventually(enough, what=f"{count} events")
        return seen()

    # -- flows over HTTP ---------------------------------------------------------------
    async def draft(self, headers: dict[str, str] = AS_PREFECTURE_69, **overrides: Any) -> str:
        territory = own_territory(self.drafted, but=overrides.keys())
        self.drafted += 1
        r = await self.http.post("/candidatures", json=dossier_body(**{**territory, **overrides}),
                                 headers=headers)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def submitted(self, **overrides: Any) -> str:
        cid = await self.draft(**overrides)
        r = await self.http.post(f"/candidatures/{cid}/submission", headers=AS_PREFECTURE_69)
        assert r.status_code == 200, r.text
        return cid

    async def under_review(self, score: int = 4, **overrides: Any) -> str:
        cid = await self.submitted(**overrides)
        r = await self.http.put(f"/candidatures/{cid}/review", headers=AS_NATIONAL, json={
            "scores": {c: {**v, "score": score} for c, v in CRITERIA_2024_SCORES.items()}})
        assert r.status_code == 200, r.text
        return cid

    async def labelled(self, **overrides: Any) -> tuple[str, str]:
        """A labelled cité: (candidature id, cité id)."""
        cid = await self.under_review(**overrides)
        r = await self.http.post(f"/candidatures/{cid}/decision", headers=AS_NATIONAL,
                                 json={"outcome": "label", "motive": "Dossier solide"})
        assert r.status_code == 200, r.text
        return cid, str(r.json()["cite_id"])


_through_service = itertools.count(1)


async def label_through_service(runtime: Runtime[Any], **overrides: Any) -> str:
    """A cité labelled by calling the use cases directly (no HTTP), on a territory of its
    own; returns its id."""
    body = candidature_in(**{**own_territory(next(_through_service), but=overrides.keys()),
                             **overrides})
    async with runtime.unit_of_work() as uow:
        c = await service.draft_candidature(uow, body.wave_id, body.departement, body.dossier(),
                                            PREFECTURE_69)
    async with runtime.unit_of_work() as uow:
        await service.submit_candidature(uow, c.id, PREFECTURE_69)
    async with runtime.unit_of_work() as uow:
        await service.score_candidature(uow, c.id, {k: (4, "") for k in CRITERIA_2024},
                                        NATIONAL)
    async with runtime.unit_of_work() as uow:
        c = await service.decide(uow, c.id, Outcome.LABEL, "Dossier solide",
                                 label_years=runtime.settings.label_years, actor=NATIONAL)
    assert c.cite_id is not None
    return c.cite_id
