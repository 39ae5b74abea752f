"""Test kit of the partners service: builders of labelling's events and of partners'
requests, tokens, and the running service as a test drives and observes it.

(Named ``partners_kit`` so it never shadows another suite's helper on sys.path.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

import httpx
from aiokafka import AIOKafkaProducer
from partners.settings import PartnersSettings

from cites_contracts import Envelope, Event, encode
from cites_contracts.events.labelling import (
    LabelExpired,
    LabelReinstated,
    LabelSuspended,
    LabelWithdrawn,
    Perimeter,
    PerimeterAddition,
    PerimeterCommune,
    PerimeterExtended,
    PerimeterQpv,
    PerimeterSchool,
    TerritoryLabelled,
    Wave,
)
from cites_contracts.topics import LABELLING_LABELS
from cites_contracts.types import (
    ActorRole,
    EducationPriority,
    LabelPeriod,
    SchoolKind,
)
from cites_runtime.app import Runtime
from cites_runtime.settings import TokenGrant
from cites_runtime.testing import wait_caught_up

NOW = datetime(2025, 1, 15, 10, 0, tzinfo=UTC)
PERIOD = LabelPeriod.of_years(date(2025, 1, 1))


def school(uai: str, kind: SchoolKind = SchoolKind.ECOLE, name: str | None = None
           ) -> PerimeterSchool:
    return PerimeterSchool(uai=uai, kind=kind, name=name or f"École {uai}",
                           education_priority=EducationPriority.REP_PLUS)


def labelled(cite_id: str = "cite-001", *, lead_uai: str = "0930001A", departement: str = "93",
             schools: tuple[PerimeterSchool, ...] = (), name: str = "Cité éducative de Bondy"
             ) -> TerritoryLabelled:
    lead = school(lead_uai, SchoolKind.COLLEGE, f"Collège {name.split()[-1]}")
    return TerritoryLabelled(
        cite_id=cite_id, candidature_id=uuid4(), name=name,
        wave=Wave(id="2024-rolling", year=2024), departement=departement,
        perimeter=Perimeter(
            communes=(PerimeterCommune(insee_code=f"{departement}010", name="Bondy"),),
            qpvs=(PerimeterQpv(code=f"QN0{departement}01M", name="Blanqui", population=5200),),
            schools=(lead, *schools),
        ),
        lead_college_uai=lead_uai, label_period=PERIOD,
        decided_by=ActorRole.NATIONAL_COORDINATION, labelled_at=NOW,
    )


def extended(label: TerritoryLabelled, *added: PerimeterSchool) -> PerimeterExtended:
    p = label.perimeter
    return PerimeterExtended(
        cite_id=label.cite_id, added=PerimeterAddition(schools=added),
        perimeter=Perimeter(communes=p.communes, qpvs=p.qpvs, schools=(*p.schools, *added)),
        decided_by=ActorRole.NATIONAL_COORDINATION, extended_at=NOW,
    )


def suspended(cite_id: str = "cite-001") -> LabelSuspended:
    return LabelSuspended(cite_id=cite_id, motive="Gouvernance à revoir",
                          decided_by=ActorRole.NATIONAL_COORDINATION, suspended_at=NOW)


def reinstated(cite_id: str = "cite-001") -> LabelReinstated:
    return LabelReinstated(cite_id=cite_id, decided_by=ActorRole.NATIONAL_COORDINATION,
                           reinstated_at=NOW)


def withdrawn(cite_id: str = "cite-001") -> LabelWithdrawn:
    return LabelWithdrawn(cite_id=cite_id, motive="Convention non respectée",
                          effective_on=date(2026, 1, 1),
                          decided_by=ActorRole.NATIONAL_COORDINATION, withdrawn_at=NOW)


def expired(cite_id: str = "cite-001") -> LabelExpired:
    return LabelExpired(cite_id=cite_id, label_period=PERIOD, expired_at=NOW)


def envelope(event: Event, sequence: int = 1) -> Envelope[Event]:
    return Envelope.wrap(event, sequence=sequence)


# --- request bodies -------------------------------------------------------------------------

# Real-looking identifiers that pass their checks (SIRET/SIREN: Luhn).
SIRET_ASSO = "73282932000074"  # SIREN 732829320
SIREN_EPCI = "200054781"
UAI_COLLEGE = "0930123X"
UAI_LYCEE = "0930456Y"


def college(uai: str = UAI_COLLEGE, **extra: Any) -> dict[str, Any]:
    return {"kind": "college", "name": f"Collège {uai}", "uai": uai,
            "commune_insee_code": "93010", **extra}


def association(siret: str = SIRET_ASSO, **extra: Any) -> dict[str, Any]:
    return {"kind": "association", "name": "Les Petits Débrouillards", "siret": siret,
            "commune_insee_code": "93010", **extra}


def contact(email: str = "a.martin@asso.example.org", consent: bool = True, **extra: Any
            ) -> dict[str, Any]:
    return {"name": "Anne Martin", "function": "Coordinatrice", "email": email,
            "phone": "+33 1 23 45 67 89", "consent": consent, **extra}


# --- tokens and the running service --------------------------------------------------------

TOKENS = {
    "tok-national": TokenGrant(role="national", subject="coordination-nationale"),
    "tok-prefecture-93": TokenGrant(role="prefecture", departement="93", subject="pref-93"),
    "tok-prefecture-69": TokenGrant(role="prefecture", departement="69", subject="pref-69"),
    "tok-partner": TokenGrant(role="partner", subject="partner-demo"),
    "tok-viewer": TokenGrant(role="viewer", subject="viewer-demo"),
}
NATIONAL = {"Authorization": "Bearer tok-national"}
PREFECTURE_93 = {"Authorization": "Bearer tok-prefecture-93"}
PREFECTURE_69 = {"Authorization": "Bearer tok-prefecture-69"}
PARTNER = {"Authorization": "Bearer tok-partner"}
VIEWER = {"Authorization": "Bearer tok-viewer"}


@dataclass
class Partners:
    """The running service, as a test drives and observes it."""

    http: httpx.AsyncClient
    runtime: Runtime
    settings: PartnersSettings
    producer: AIOKafkaProducer

    async def events(self, *types: str) -> list[dict[str, Any]]:
        """Envelopes the service emitted (its outbox, in order), optionally by type."""
        rows = await self.runtime.pool.fetch("SELECT value FROM outbox ORDER BY id")
        envelopes = [json.loads(bytes(r["value"])) for r in rows]
        wanted = {f"partners.{t}" for t in types}
        return [e for e in envelopes if not wanted or e["type"] in wanted]

    async def publish(self, *items: Event | Envelope[Event] | bytes) -> None:
        """Put labelling's events (or raw bytes) on the labels topic, in order."""
        topic = self.settings.topic(LABELLING_LABELS.name)
        for item in items:
            if isinstance(item, bytes):
                await self.producer.send_and_wait(topic, item, key=b"poison")
                continue
            env = item if isinstance(item, Envelope) else envelope(item)
            rec = encode(env)
            await self.producer.send_and_wait(topic, rec.value, key=rec.key,
                                              headers=rec.headers)

    async def caught_up(self) -> None:
        """Everything published so far on the labels topic has been applied."""
        s = self.settings
        await wait_caught_up(s.kafka_bootstrap_servers, s.topic("partners"),
                             s.topic(LABELLING_LABELS.name), timeout=60)


MakePartners = Callable[..., AbstractAsyncContextManager[Partners]]
