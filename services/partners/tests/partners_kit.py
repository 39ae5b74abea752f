"""Test kit of the partners service: builders of labelling's events (what partners
consumes) and of partners' request bodies, and the flows the tests repeat (an alliance
opened, read; records handed to the consumer's runner, its dead letters kept). Tokens,
headers and the service under test are the runtime's (``cites_runtime.testing``).

(Named ``partners_kit`` so it never shadows another suite's helper on sys.path.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from partners import service as use_cases

from cites_contracts import Envelope, Event, encode
from cites_contracts.events.labelling import (
    LabelExpired,
    LabelReinstated,
    LabelRenewed,
    LabelSuspended,
    LabelWithdrawn,
    Perimeter,
    PerimeterAddition,
    PerimeterExtended,
    PerimeterSchool,
    TerritoryLabelled,
)
from cites_contracts.testing import event, territory_labelled
from cites_contracts.types import (
    ActorRole,
    EducationPriority,
    LabelPeriod,
    SchoolKind,
)
from cites_runtime.kafka import OutboundRecord
from cites_runtime.testing import AS_VIEWER, ServiceUnderTest

DECIDED_AT = datetime(2025, 1, 15, 10, 0, tzinfo=UTC)
"""When labelling decided (its events' own times; partners' time is the test's clock)."""
PERIOD = LabelPeriod.of_years(date(2025, 1, 1))


def school(uai: str, kind: SchoolKind = SchoolKind.ECOLE, name: str | None = None
           ) -> PerimeterSchool:
    return PerimeterSchool(uai=uai, kind=kind, name=name or f"École {uai}",
                           education_priority=EducationPriority.REP_PLUS)


def labelled(cite_id: str = "cite-001", *, lead_uai: str = "0930001A", departement: str = "93",
             schools: tuple[PerimeterSchool, ...] = (), name: str = "Cité éducative de Bondy"
             ) -> TerritoryLabelled:
    return territory_labelled(cite_id, departement=departement, lead_uai=lead_uai,
                              lead_name=f"Collège {name.split()[-1]}", schools=schools,
                              name=name, label_period=PERIOD, labelled_at=DECIDED_AT)


def extended(label: TerritoryLabelled, *added: PerimeterSchool) -> PerimeterExtended:
    p = label.perimeter
    return PerimeterExtended(
        cite_id=label.cite_id, added=PerimeterAddition(schools=added),
        perimeter=Perimeter(communes=p.communes, qpv_list=p.qpv_list, qpvs=p.qpvs,
                            schools=(*p.schools, *added)),
        decided_by=ActorRole.NATIONAL_COORDINATION, extended_at=DECIDED_AT,
    )


def renewed(cite_id: str = "cite-001") -> LabelRenewed:
    """The label renewed, in its window: the next period starts the day after PERIOD."""
    following = LabelPeriod.of_years(PERIOD.end + timedelta(days=1))
    return LabelRenewed(cite_id=cite_id, previous_period=PERIOD, label_period=following,
                        decided_by=ActorRole.NATIONAL_COORDINATION,
                        renewed_at=datetime(2027, 6, 1, 9, 0, tzinfo=UTC))


def suspended(cite_id: str = "cite-001") -> LabelSuspended:
    return event(LabelSuspended, cite_id=cite_id, suspended_at=DECIDED_AT)


def reinstated(cite_id: str = "cite-001") -> LabelReinstated:
    return event(LabelReinstated, cite_id=cite_id, reinstated_at=DECIDED_AT)


def withdrawn(cite_id: str = "cite-001") -> LabelWithdrawn:
    return event(LabelWithdrawn, cite_id=cite_id, effective_on=date(2026, 1, 1),
                 withdrawn_at=DECIDED_AT)


def expired(cite_id: str = "cite-001") -> LabelExpired:
    return event(LabelExpired, cite_id=cite_id, label_period=PERIOD, expired_at=DECIDED_AT)


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


# --- flows ----------------------------------------------------------------------------------


async def open_alliance(service: ServiceUnderTest, label: TerritoryLabelled | None = None
                        ) -> str:
    """An alliance as labelling's event opens it (applied directly: no broker needed);
    returns its cité."""
    label = label or labelled()
    async with service.runtime.unit_of_work() as uow:
        assert await use_cases.open_alliance(uow, label)
    return label.cite_id


async def read_alliance(service: ServiceUnderTest, cite_id: str = "cite-001"
                        ) -> dict[str, Any]:
    """The alliance as the API answers it (it must exist)."""
    response = await service.http.get(f"/alliances/{cite_id}", headers=AS_VIEWER)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@dataclass
class Rec:
    """A consumed record (fits the runtime's RawRecord)."""

    topic: str
    value: bytes | None
    key: bytes | None
    headers: list[tuple[str, bytes | None]]
    offset: int
    partition: int = 0
    timestamp: int = 0


def records(service: ServiceUnderTest, events: Sequence[Envelope[Event]]) -> list[Rec]:
    """``events`` as the consumer reads them from labelling's labels topic, at offsets
    0, 1…: what ``service.runtime.runner.process_batch`` takes."""
    topic = service.settings.topic("labelling.labels")
    found = []
    for offset, env in enumerate(events):
        rec = encode(env)
        found.append(Rec(topic, rec.value, rec.key, list(rec.headers), offset))
    return found


@dataclass
class Letters:
    """A dead-letter publisher keeping each letter's headers (publishing nothing)."""

    letters: list[dict[str, str]] = field(default_factory=list)

    async def enqueue(self, records: Sequence[OutboundRecord]) -> Awaitable[None]:
        await self.publish_batch(records)
        return asyncio.sleep(0)

    async def publish_batch(self, records: Sequence[OutboundRecord]) -> None:
        self.letters += [{k: v.decode() for k, v in r.headers} for r in records]

    async def reset(self) -> None:
        return None
