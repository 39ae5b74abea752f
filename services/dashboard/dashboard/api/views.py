"""What the API answers: the summary the page shows, built from the projection's sums
(``store``) and the domain's rules (``domain.programme``, ``domain.departements``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import asyncpg
from pydantic import BaseModel, Field

from ..domain.departements import departement_name
from ..domain.programme import MoneyLine
from ..platform_health import Health

__all__ = ["AlliancesView", "DepartementView", "EnvelopeView", "NotificationsView",
           "SignInView", "SummaryView", "WaveView"]


class WaveView(BaseModel):
    wave_id: str
    year: int | None
    cites: dict[str, int] = Field(description="Cités by their label's status")
    candidatures: dict[str, int] = Field(description="Candidatures by status")

    @classmethod
    def of(cls, wave_id: str, year: int | None = None) -> WaveView:
        """A wave, its figures to be counted in."""
        return cls(wave_id=wave_id, year=year, cites={}, candidatures={})


class DepartementView(BaseModel):
    code: str
    name: str
    cites: int
    active: int
    alliance_members: int
    allocated: int
    committed: int
    paid: int

    @classmethod
    def of(cls, r: asyncpg.Record) -> DepartementView:
        """From a row of ``store.by_departement``."""
        return cls(code=r["departement"], name=departement_name(r["departement"]),
                   cites=r["cites"], active=r["active"], alliance_members=r["members"],
                   allocated=r["allocated"], committed=r["committed"], paid=r["paid"])


class EnvelopeView(BaseModel):
    envelope_id: str
    name: str
    programme: str
    budget_years: list[int]
    wave_ids: list[str]
    amount: int

    @classmethod
    def of(cls, r: asyncpg.Record) -> EnvelopeView:
        """From a row of ``store.envelopes``."""
        return cls(envelope_id=str(r["envelope_id"]), name=r["name"],
                   programme=r["programme"], budget_years=list(r["budget_years"]),
                   wave_ids=list(r["wave_ids"]), amount=r["amount"])


class AlliancesView(BaseModel):
    open: int
    closed: int
    members: int = Field(description="Current members of open alliances")
    sizes: dict[int, int] = Field(description="Members → how many open alliances have so many")
    by_kind: dict[str, int] = Field(description="Members of open alliances by kind of partner")

    @classmethod
    def of(cls, counts: Mapping[str, int], sizes: dict[int, int], by_kind: dict[str, int]
           ) -> AlliancesView:
        """From the open and closed ``counts``, the open ones' ``sizes`` (members → how
        many alliances) and their members ``by_kind``."""
        return cls(open=counts["open"], closed=counts["closed"],
                   members=sum(k * v for k, v in sizes.items()), sizes=sizes, by_kind=by_kind)


class NotificationsView(BaseModel):
    sent: int
    failed: int
    by_template: dict[str, dict[str, int]]

    @classmethod
    def of(cls, by_template: dict[str, dict[str, int]]) -> NotificationsView:
        """From the outcomes counted per template (``{"sent": n, "failed": m}`` each)."""
        return cls(sent=sum(t["sent"] for t in by_template.values()),
                   failed=sum(t["failed"] for t in by_template.values()),
                   by_template=by_template)


class SummaryView(BaseModel):
    """Cents for money; counts otherwise."""

    generated_at: datetime
    refresh_s: float
    cites: dict[str, int] = Field(description="Cités by their label's status")
    waves: list[WaveView]
    departements: list[DepartementView]
    money: list[MoneyLine] = Field(description="Per programme and year, as funding's "
                                   "consumption report (GET /reports/consumption)")
    money_by_programme: list[MoneyLine] = Field(description="Per programme, all years "
                                                "(year 0)")
    envelopes: list[EnvelopeView]
    alliances: AlliancesView
    notifications: NotificationsView
    health: Health | None = Field(description="The last probe of the platform's health; "
                                  "null before the first")


class SignInView(BaseModel):
    """How the page signs in: at the identity provider (``oidc``: its issuer, and the
    page's client id), or with a token typed in (``static``: development and tests)."""

    mode: str
    issuer: str | None = None
    client_id: str | None = None

