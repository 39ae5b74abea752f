"""Test kit of the funding service: builders of labelling's and partners' events (what
funding consumes), request bodies, and the flows the tests repeat. Tokens and the service
under test are the runtime's (``cites_runtime.testing``).

(Named ``funding_kit`` so it never shadows another suite's helper on sys.path.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from cites_contracts.events.labelling import (
    LabelExpired,
    LabelReinstated,
    LabelSuspended,
    LabelWithdrawn,
    TerritoryLabelled,
)
from cites_contracts.events.partners import (
    AllianceClosed,
    AllianceOpened,
    ChefDeFileDesignated,
    PartnerJoinedAlliance,
    PartnerLeftAlliance,
)
from cites_contracts.testing import event, territory_labelled
from cites_contracts.types import (
    AllianceClosureReason,
    AllianceRole,
    LabelPeriod,
    PartnerKind,
)
from cites_runtime.testing import AS_NATIONAL, AS_PREFECTURE_93, COLLEGE, ServiceUnderTest

WAVE = "2024-rolling"
DECIDED_AT = datetime(2025, 1, 15, 10, 0, tzinfo=UTC)
PERIOD = LabelPeriod.of_years(date(2025, 1, 1))  # 2025-01-01 – 2027-12-31
LEAD_UAI = "0930001A"
LEAD_PARTNER = COLLEGE
"""The collège chef de file: the one whose principal acts with ``AS_COLLEGE``."""
OPERATOR = UUID("00000000-0000-4000-8000-0000000a5501")
CONVENTION = {"kind": "convention", "reference": "2025-93-CE-014", "signed_on": "2025-02-03"}
"""The legal act of the tests' commitments (of 2025 allocations)."""


def labelled(cite_id: str = "cite-001", *, departement: str = "93",
             requested: int | None = 300_000_00, population: int = 5200,
             period: LabelPeriod = PERIOD, wave: str = WAVE) -> TerritoryLabelled:
    return territory_labelled(cite_id, departement=departement, lead_uai=LEAD_UAI,
                              wave=wave, population=population, label_period=period,
                              labelled_at=DECIDED_AT, requested_annual_contribution=requested)


def suspended(cite_id: str = "cite-001") -> LabelSuspended:
    return event(LabelSuspended, cite_id=cite_id, suspended_at=DECIDED_AT)


def reinstated(cite_id: str = "cite-001") -> LabelReinstated:
    return event(LabelReinstated, cite_id=cite_id, reinstated_at=DECIDED_AT)


def withdrawn(cite_id: str = "cite-001") -> LabelWithdrawn:
    return event(LabelWithdrawn, cite_id=cite_id, effective_on=date(2025, 6, 1),
                 withdrawn_at=DECIDED_AT)


def expired(cite_id: str = "cite-001") -> LabelExpired:
    return event(LabelExpired, cite_id=cite_id, label_period=PERIOD, expired_at=DECIDED_AT)


def alliance_opened(cite_id: str = "cite-001") -> AllianceOpened:
    return AllianceOpened(cite_id=cite_id, chef_de_file_partner_id=LEAD_PARTNER,
                          chef_de_file_uai=LEAD_UAI, opened_at=DECIDED_AT)


def chef_de_file(partner_id: UUID, uai: str, cite_id: str = "cite-001") -> ChefDeFileDesignated:
    return ChefDeFileDesignated(cite_id=cite_id, partner_id=partner_id, uai=uai,
                                previous_partner_id=LEAD_PARTNER, designated_at=DECIDED_AT)


def joined(partner_id: UUID = OPERATOR, cite_id: str = "cite-001") -> PartnerJoinedAlliance:
    return PartnerJoinedAlliance(cite_id=cite_id, partner_id=partner_id,
                                 partner_kind=PartnerKind.ASSOCIATION,
                                 roles=(AllianceRole.ACTION_OPERATOR,), joined_at=DECIDED_AT)


def left(partner_id: UUID = OPERATOR, cite_id: str = "cite-001") -> PartnerLeftAlliance:
    return PartnerLeftAlliance(cite_id=cite_id, partner_id=partner_id, left_at=DECIDED_AT)


def alliance_closed(cite_id: str = "cite-001") -> AllianceClosed:
    return AllianceClosed(cite_id=cite_id, reason=AllianceClosureReason.LABEL_WITHDRAWN,
                          closed_at=DECIDED_AT)


def p147(amount: int = 10_000_000_00, **extra: Any) -> dict[str, Any]:
    return {"name": "Vague 2024 : programme 147", "programme": "P147",
            "budget_years": [2025, 2026, 2027], "wave_ids": [WAVE], "amount": amount, **extra}


def p230(amount: int = 1_000_000_00, **extra: Any) -> dict[str, Any]:
    return {"name": "Vague 2024 : programme 230", "programme": "P230",
            "budget_years": [2025, 2026, 2027], "wave_ids": [WAVE], "amount": amount, **extra}


@dataclass
class Funding:
    """The funding service under test, with the flows its tests repeat."""

    s: ServiceUnderTest

    @property
    def http(self) -> Any:
        return self.s.http

    async def credits(self, year: int = 2025, departements: tuple[str, ...] = ("93", "69"),
                      ae: int = 10_000_000_00, cp: int = 10_000_000_00) -> None:
        """Each programme's credits of ``year`` recorded and delegated in equal parts to
        ``departements`` (commitments consume AE, payments CP: none without)."""
        for programme in ("P147", "P230"):
            r = await self.http.post("/credits", json={
                "programme": programme, "year": year, "ae": ae, "cp": cp},
                headers=AS_NATIONAL)
            assert r.status_code == 200, r.text
            for d in departements:
                r = await self.http.post(f"/credits/{programme}/{year}/delegations", json={
                    "departement": d, "ae": ae // len(departements),
                    "cp": cp // len(departements)}, headers=AS_NATIONAL)
                assert r.status_code == 200, r.text

    async def open_envelopes(self, p147_amount: int = 10_000_000_00,
                             p230_amount: int = 1_000_000_00) -> tuple[str, str]:
        """The two programmes' envelopes of the wave, and their credits of 2025."""
        await self.credits()
        ids = []
        for body in (p147(p147_amount), p230(p230_amount)):
            r = await self.http.post("/envelopes", json=body, headers=AS_NATIONAL)
            assert r.status_code == 201, r.text
            ids.append(r.json()["envelope_id"])
        return ids[0], ids[1]

    async def cite(self, cite_id: str = "cite-001") -> dict[str, Any]:
        r = await self.http.get(f"/cites/{cite_id}", headers=AS_NATIONAL)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def dotation(self, cite_id: str = "cite-001", year: int = 2025) -> dict[str, Any]:
        found = [a for a in (await self.cite(cite_id))["allocations"]
                 if a["year"] == year and a["rule"] != "manual"]
        assert len(found) == 1, found
        return found[0]

    async def funded_cite(self, cite_id: str = "cite-001", **label: Any) -> dict[str, Any]:
        """Envelopes open (if none), the cité labelled, its operator a member: its 2025
        dotation."""
        if not (await self.http.get("/envelopes", headers=AS_NATIONAL)).json()["items"]:
            await self.open_envelopes()
        await self.s.publish(labelled(cite_id, **label), alliance_opened(cite_id),
                             joined(cite_id=cite_id))
        return await self.dotation(cite_id)

    async def commit(self, allocation_id: str, amount: int, cite_id: str = "cite-001",
                     headers: dict[str, str] = AS_PREFECTURE_93, **extra: Any) -> Any:
        return await self.http.post(f"/cites/{cite_id}/commitments", json={
            "allocation_id": allocation_id, "operator_partner_id": str(OPERATOR),
            "action_title": "Ateliers parents-enfants", "amount": amount,
            "legal_act": CONVENTION, **extra},
            headers=headers)

    async def ledger_balanced(self) -> dict[str, Any]:
        r = await self.http.get("/ledger/check", headers=AS_NATIONAL)
        assert r.status_code == 200, r.text
        check: dict[str, Any] = r.json()
        assert check["balanced"], check
        return check

    async def outbox(self, *types: str) -> list[Any]:
        return [e.data.model_dump(mode="json") for e in await self.s.outbox(*types)]
