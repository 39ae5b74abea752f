"""The programme's records of a cité, as an import brings them in (value objects).

A :class:`CiteRecord` is what the programme knows of one cité labelled before the platform
(or outside it): the candidature its préfecture filed, the decision that labelled it, its
convention, its renewals — each with its business date. The import
(:func:`labelling.service.import_cite`) turns it into the events the live path would have
published, marked as imported. The record is its own documentation: its JSON Schema is the
import format's (``docs/import.md``), and a CSV line maps onto it (:mod:`labelling.imports`).
"""

from __future__ import annotations

from datetime import date
from typing import Self
from uuid import UUID, uuid5

from pydantic import Field, model_validator

from cites_contracts.types import CiteReference, Departement, LabelPeriod

from .dossier import Dossier, NewPerimeter, Value

__all__ = ["CiteRecord", "Reference", "RenewalRecord", "imported_candidature_id"]

Reference = CiteReference
"""The programme's own identifier of a cité (its file's), stable from one import to the
next: what makes a second import of the same record change nothing."""

_IMPORTED = UUID("4d0f6b1e-2a8e-4c1b-9e57-1f3c6a0b8d22")


def imported_candidature_id(reference: str) -> UUID:
    """The id of an imported cité's candidature: the same for the same reference, every
    time."""
    return uuid5(_IMPORTED, reference)


class RenewalRecord(Value):
    """One renewal of the label: the re-application (if the cité re-applied) and the
    decision, with the period it granted and that period's convention."""

    filed_on: date | None = Field(None, description="The re-application's date, if any")
    decided_on: date | None = Field(
        None, description="The renewal decision's date; absent: a re-application not decided "
        "yet (the last renewal only), which keeps the label from expiring")
    period: LabelPeriod | None = Field(
        None, description="The period granted, when not the label's years from the day after "
        "the previous period ends")
    years: int = Field(3, ge=1, le=6, description="How many years it granted")
    convention_signed_on: date | None = Field(
        None, description="The signature of the new period's convention")
    perimeter: NewPerimeter | None = Field(
        None, description="The cité's whole perimeter from this renewal on, when it changed "
        "(e.g. moved to the 2024 QPV list)")

    @model_validator(mode="after")
    def _filed_first(self) -> Self:
        if self.decided_on is None:
            if self.filed_on is None:
                raise ValueError("a renewal states its decision's date, or the date of the "
                                 "re-application waiting for it")
            return self
        if self.filed_on is not None and self.filed_on > self.decided_on:
            raise ValueError(f"the re-application ({self.filed_on}) comes before its "
                             f"decision ({self.decided_on})")
        return self


class CiteRecord(Value):
    """One cité of the programme's past: its candidature, decision, convention, renewals."""

    reference: Reference
    wave_id: str = Field(min_length=1, max_length=64,
                         description="The wave it was labelled in ('2019', '2021', '2022'…)")
    departement: Departement
    dossier: Dossier = Field(description="The candidature's dossier: territory, perimeter, "
                             "collège chef de file, troïka (texts may be empty)")
    filed_on: date = Field(description="The candidature's filing date")
    decided_on: date = Field(description="The labelling decision's date")
    label_years: int = Field(3, ge=1, le=6, description="How many years the label granted")
    convention_signed_on: date | None = None
    motive: str = Field("Labellisée par décision des ministres (reprise de l'historique)",
                        min_length=1, max_length=2000)
    renewals: tuple[RenewalRecord, ...] = Field((), max_length=10)

    @model_validator(mode="after")
    def _pending_last(self) -> Self:
        if any(r.decided_on is None for r in self.renewals[:-1]):
            raise ValueError("only the last renewal may be a re-application not decided yet")
        return self

    @property
    def settled(self) -> tuple[RenewalRecord, ...]:
        """The renewals decided (without a re-application still waiting)."""
        return tuple(r for r in self.renewals if r.decided_on is not None)

    @model_validator(mode="after")
    def _troika_given(self) -> Self:
        # The troïka is who the programme writes to about the cité from now on.
        if not self.dossier.troika:
            raise ValueError("the dossier names no troïka signatory: the programme writes "
                             "to them (préfet, recteur, maire) about the cité from now on")
        return self

    def without_renewals(self) -> CiteRecord:
        return self.model_copy(update={"renewals": ()})

    def differences(self, other: CiteRecord) -> list[str]:
        """The fields that differ between two records of one cité (renewals by position)."""
        mine, theirs = self.model_dump(), other.model_dump()
        return [name for name in type(self).model_fields if mine[name] != theirs[name]]
