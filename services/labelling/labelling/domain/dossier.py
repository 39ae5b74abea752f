"""The candidature's dossier: what a préfecture files for a territory (value objects).

Drafts may be incomplete (empty texts, no QPV yet): completeness and eligibility are the
wave's rules, checked at submission (:mod:`.rules`). What is checked here is only what no
draft may hold: malformed codes, duplicates. (Text PostgreSQL cannot store never gets this
far: the runtime's HTTP edge refuses it.)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID, uuid5

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from cites_contracts.events.labelling import (
    Perimeter,
    PerimeterAddition,
    PerimeterCommune,
    PerimeterQpv,
    PerimeterSchool,
    TroikaContactPublished,
    TroikaSeat,
)
from cites_contracts.types import (
    Cents,
    EducationPriority,
    Email,
    InseeCode,
    Name,
    Population,
    QpvCode,
    QpvList,
    SchoolKind,
    TroikaRole,
    Uai,
    departement_of,
    qpv_departement,
)

__all__ = [
    "STORED",
    "Addition",
    "Commune",
    "Dossier",
    "NewPerimeter",
    "NpnruInterest",
    "Objectives",
    "Qpv",
    "School",
    "Signatory",
    "Text",
    "Value",
]

Text = Annotated[str, StringConstraints(max_length=20_000)]
"""A free text of the dossier (diagnostic, governance…); may be empty while drafting."""

STORED = {"stored": True}
"""Validation context of a dossier read back from the database: the check that only guards
the door (e-mail syntax) already passed when it was filed, and is skipped (e-mail
validation alone costs more than the rest of a dossier)."""


def _is_stored(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("stored"))


class Value(BaseModel):
    """Base of the dossier's value objects: immutable, unknown fields refused (they are
    also the bodies préfectures send)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class NpnruInterest(StrEnum):
    """The territory's urban-renewal project (NPNRU), if any, and its interest."""

    NONE = "none"
    REGIONAL = "regional"
    NATIONAL = "national"


class Commune(Value):
    insee_code: InseeCode
    name: Name

    @property
    def departement(self) -> str:
        return departement_of(self.insee_code)


class Qpv(Value):
    code: QpvCode
    name: Name
    population: Population

    @property
    def departement(self) -> str:
        return qpv_departement(self.code)


class School(Value):
    uai: Uai
    kind: SchoolKind
    name: Name
    education_priority: EducationPriority


_EMAIL: TypeAdapter[str] = TypeAdapter(Email)


def _email(value: str, info: ValidationInfo) -> str:
    if _is_stored(info):
        return value
    try:
        return _EMAIL.validate_python(value)
    except ValidationError as exc:
        raise PydanticCustomError("email", "{reason}",
                                  {"reason": exc.errors()[0]["msg"]}) from None


SignatoryEmail = Annotated[str, AfterValidator(_email),
                           WithJsonSchema({"type": "string", "format": "email"})]


class Signatory(Value):
    """A troïka signatory: the role and the mailbox the programme writes to (no name)."""

    role: TroikaRole
    email: SignatoryEmail


class Objectives(Value):
    """The programme's three mandatory objectives, as the territory means to pursue them."""

    school_role: Text = Field("", description="Strengthen the role of the school")
    educational_continuity: Text = Field("", description="Promote educational continuity")
    opportunities: Text = Field("", description="Open up opportunities (mobility, openness)")


def _no_duplicates(items: Iterable[str], what: str) -> None:
    seen: set[str] = set()
    for code in items:
        if code in seen:
            raise PydanticCustomError(
                "duplicate", "{what} {code} is listed twice", {"what": what, "code": code}
            )
        seen.add(code)


class _PerimeterParts(Value):
    communes: tuple[Commune, ...] = Field((), max_length=200)
    qpvs: tuple[Qpv, ...] = Field((), max_length=200)
    schools: tuple[School, ...] = Field((), max_length=1000)

    def insee_codes(self) -> list[str]:
        """Its communes' INSEE codes: whom a commune preparing it must find there."""
        return [c.insee_code for c in self.communes]

    @field_validator("communes")
    @classmethod
    def _communes_once(cls, value: tuple[Commune, ...]) -> tuple[Commune, ...]:
        _no_duplicates((c.insee_code for c in value), "commune")
        return value

    @field_validator("qpvs")
    @classmethod
    def _qpvs_once(cls, value: tuple[Qpv, ...]) -> tuple[Qpv, ...]:
        _no_duplicates((q.code for q in value), "QPV")
        return value

    @field_validator("schools")
    @classmethod
    def _schools_once(cls, value: tuple[School, ...]) -> tuple[School, ...]:
        _no_duplicates((s.uai for s in value), "school")
        return value


class Addition(_PerimeterParts):
    """What a perimeter extension adds (communes, QPVs, schools)."""

    def contract(self) -> PerimeterAddition:
        return PerimeterAddition(
            communes=tuple(PerimeterCommune(**c.model_dump()) for c in self.communes),
            qpvs=tuple(PerimeterQpv(**q.model_dump()) for q in self.qpvs),
            schools=tuple(PerimeterSchool(**s.model_dump()) for s in self.schools),
        )


class NewPerimeter(_PerimeterParts):
    """The whole perimeter a renewal gives a cité from then on, on ``qpv_list`` (e.g. a
    2019–2023 perimeter moved to the 2024 QPV list)."""

    qpv_list: QpvList

    def contract(self) -> Perimeter:
        return Perimeter(
            communes=tuple(PerimeterCommune(**c.model_dump()) for c in self.communes),
            qpv_list=self.qpv_list,
            qpvs=tuple(PerimeterQpv(**q.model_dump()) for q in self.qpvs),
            schools=tuple(PerimeterSchool(**s.model_dump()) for s in self.schools),
        )


class Dossier(_PerimeterParts):
    """Everything a candidature says about its territory."""

    territory_name: Name
    lead_college_uai: Uai | None = Field(None, description="UAI of the collège chef de file")
    troika: tuple[Signatory, ...] = Field((), max_length=4)
    npnru_project: NpnruInterest = NpnruInterest.NONE
    reconquest_zone: bool = Field(
        False, description="The territory is a reconquest zone (QRR) or priority security zone"
    )
    diagnostic: Text = ""
    objectives: Objectives = Objectives()
    governance: Text = ""
    action_plan: Text = ""
    requested_annual_contribution: Cents = Field(
        0, description="Annual State contribution asked for, in euro cents"
    )

    @field_validator("troika")
    @classmethod
    def _one_signatory_per_role(cls, value: tuple[Signatory, ...]) -> tuple[Signatory, ...]:
        _no_duplicates((s.role.value for s in value), "troïka role")
        return value

    def perimeter(self, qpv_list: QpvList) -> Perimeter:
        """The contract's perimeter, on ``qpv_list`` (needs at least one commune, QPV and
        school, its QPVs of that list)."""
        return Perimeter(
            communes=tuple(PerimeterCommune(**c.model_dump()) for c in self.communes),
            qpv_list=qpv_list,
            qpvs=tuple(PerimeterQpv(**q.model_dump()) for q in self.qpvs),
            schools=tuple(PerimeterSchool(**s.model_dump()) for s in self.schools),
        )

    def troika_seats(self, candidature_id: UUID) -> tuple[TroikaSeat, ...]:
        """The troïka as events name it: roles and the ids of their cards."""
        return tuple(TroikaSeat(role=s.role, contact_id=troika_contact_id(candidature_id,
                                                                          s.role))
                     for s in self.troika)

    def troika_cards(self, candidature_id: UUID, now: datetime
                     ) -> tuple[TroikaContactPublished, ...]:
        """Each signatory's card for the compacted ``labelling.contacts``: the address."""
        return tuple(TroikaContactPublished(
            contact_id=troika_contact_id(candidature_id, s.role),
            candidature_id=candidature_id, role=s.role, email=s.email, published_at=now)
            for s in self.troika)

    def without_signatory(self, role: TroikaRole) -> tuple[Dossier, str | None]:
        """The dossier without the ``role``'s signatory, and the address it had (None when
        there was none: erased already, or never given)."""
        gone = [s for s in self.troika if s.role is role]
        if not gone:
            return self, None
        kept = tuple(s for s in self.troika if s.role is not role)
        return self.model_copy(update={"troika": kept}), gone[0].email


_TROIKA_IDS = UUID("0b6f3e53-0a4e-4f43-9f6e-2a8c1c7a9d10")


def troika_contact_id(candidature_id: UUID, role: TroikaRole) -> UUID:
    """The id of a troïka seat's card: one per (candidature, role), the same every time it
    is computed, so nothing has to be stored to find it again at erasure."""
    return uuid5(_TROIKA_IDS, f"{candidature_id}/{role.value}")

