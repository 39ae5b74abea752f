"""Events of the ``labelling`` service: candidatures and labels.

A candidature lives on ``labelling.candidatures`` (key ``candidature_id``); once labelled,
the territory becomes a *cité* whose label lives on ``labelling.labels`` (key ``cite_id``),
starting with :class:`TerritoryLabelled` (which names its candidature).
"""

from __future__ import annotations

from datetime import date
from typing import Any, Self
from uuid import UUID

from pydantic import ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from ..envelope import Event, event, upcasts
from ..topics import (
    LABELLING_CANDIDATURES,
    LABELLING_CONTACTS,
    LABELLING_LABELS,
    LABELLING_REVIEWS,
)
from ..types import (
    ActorRole,
    AgeGroup,
    Cents,
    CiteId,
    CiteReference,
    ContractModel,
    ConventionParty,
    Departement,
    EducationPriority,
    Email,
    IndicatorValue,
    InseeCode,
    LabelPeriod,
    Motive,
    Name,
    Population,
    ProgrammeYear,
    QpvCode,
    QpvList,
    RetiredDepartement,
    RetiredInseeCode,
    RetiredQpvCode,
    ReviewObjective,
    ReviewTheme,
    SchoolKind,
    Slug,
    TroikaRole,
    Uai,
    UtcDateTime,
    WaveId,
)

__all__ = [
    "CandidatureRejected",
    "CandidatureReviewStarted",
    "CandidatureSubmitted",
    "CandidatureSubmittedV1",
    "CandidatureSubmittedV2",
    "CandidatureWithdrawn",
    "ConventionAmended",
    "ConventionSignatory",
    "ConventionSigned",
    "LabelExpired",
    "LabelReinstated",
    "LabelRenewed",
    "LabelSuspended",
    "LabelWithdrawn",
    "Perimeter",
    "PerimeterAddition",
    "PerimeterCommune",
    "PerimeterExtended",
    "PerimeterExtendedV1",
    "PerimeterQpv",
    "PerimeterSchool",
    "PerimeterV1",
    "ProjectReviewOpened",
    "ProjectReviewOverdue",
    "ProjectReviewSubmitted",
    "ProjectReviewValidated",
    "RenewalApplied",
    "RenewalRefused",
    "ReviewAction",
    "ReviewIndicator",
    "ReviewMoney",
    "TerritoryLabelled",
    "TerritoryLabelledV1",
    "TroikaContactPublished",
    "TroikaMember",
    "TroikaSeat",
    "TroikaValidation",
    "Wave",
]


# --- Nested models ------------------------------------------------------------------------


class Wave(ContractModel):
    """The labelling wave; its id selects the eligibility rule set and the funding envelope."""

    id: WaveId
    year: ProgrammeYear
    title: Name | None = Field(
        default=None, description="The wave's name as people read it (e.g. « Vague 2019 : "
        "80 premières cités éducatives »); absent from events written before it was carried"
    )
    test: bool = Field(
        default=False, description="A wave for trying the platform out (training, "
        "acceptance): its cités are never published as open data"
    )


class PerimeterCommune(ContractModel):
    """A commune of the perimeter."""

    insee_code: InseeCode
    name: Name


class PerimeterQpv(ContractModel):
    """A priority neighbourhood of the perimeter, with the population eligibility counts."""

    code: QpvCode
    name: Name
    population: Population


class PerimeterSchool(ContractModel):
    """A school of the perimeter and its éducation prioritaire status."""

    uai: Uai
    kind: SchoolKind
    name: Name
    education_priority: EducationPriority


class Perimeter(ContractModel):
    """The whole perimeter of a territory: at least one commune, one QPV and one school;
    its QPVs are all of the list it refers to."""

    communes: tuple[PerimeterCommune, ...] = Field(min_length=1)
    qpv_list: QpvList = Field(
        description="The QPV list the perimeter refers to (2015: codes QP…, 2024: codes "
        "QN…); every QPV of the perimeter is of that list"
    )
    qpvs: tuple[PerimeterQpv, ...] = Field(min_length=1)
    schools: tuple[PerimeterSchool, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _qpvs_of_its_list(self) -> Self:
        odd = [q.code for q in self.qpvs if not _of_list(q.code, self.qpv_list)]
        if odd:
            raise PydanticCustomError(
                "qpv_list", "the perimeter refers to the {qpv_list} QPV list; not of that "
                "list: {odd}", {"qpv_list": self.qpv_list.value, "odd": ", ".join(odd)})
        return self


def _of_list(code: str, qpv_list: QpvList) -> bool:
    return code.startswith("QP" if qpv_list is QpvList.LIST_2015 else "QN")


class PerimeterAddition(ContractModel):
    """What an extension adds to a perimeter (any part may be empty); its QPVs are of the
    perimeter's list."""

    communes: tuple[PerimeterCommune, ...] = ()
    qpvs: tuple[PerimeterQpv, ...] = ()
    schools: tuple[PerimeterSchool, ...] = ()


# The perimeter as the retired versions of the events carry it (2024 QPV list only, no
# Saint-Martin, no ``qpv_list``): their committed schemas do not change.


class PerimeterCommuneV1(ContractModel):
    model_config = ConfigDict(title="PerimeterCommune")

    insee_code: RetiredInseeCode
    name: Name


class PerimeterQpvV1(ContractModel):
    model_config = ConfigDict(title="PerimeterQpv")

    code: RetiredQpvCode
    name: Name
    population: Population


class PerimeterV1(ContractModel):
    """The perimeter of the retired versions: its QPVs are of the 2024 list."""

    model_config = ConfigDict(title="Perimeter")

    communes: tuple[PerimeterCommuneV1, ...] = Field(min_length=1)
    qpvs: tuple[PerimeterQpvV1, ...] = Field(min_length=1)
    schools: tuple[PerimeterSchool, ...] = Field(min_length=1)

    def upcast(self) -> dict[str, Any]:
        """As the current :class:`Perimeter` states it: on the 2024 list, which every
        code of a retired version is of."""
        return {**self.model_dump(), "qpv_list": QpvList.LIST_2024}


class PerimeterAdditionV1(ContractModel):
    model_config = ConfigDict(title="PerimeterAddition")

    communes: tuple[PerimeterCommuneV1, ...] = ()
    qpvs: tuple[PerimeterQpvV1, ...] = ()
    schools: tuple[PerimeterSchool, ...] = ()


_WIDER_CODES = ("Its codes could not name Saint-Martin (978) nor a QPV of the 2015 list, and "
                "its perimeter did not say which QPV list it refers to. Replaced by version "
                "{version}; consumers apply its records as version {version} (upcast: the "
                "perimeter on the 2024 list).")


class TroikaMember(ContractModel):
    """A signatory of the candidature, as a role and the mailbox notifications writes to
    (version 1 of ``CandidatureSubmitted``, retired).

    Personal data: the e-mail is here only because notifications must acknowledge receipt
    and announce the decision to the troïka and may not ask labelling synchronously. No
    name is carried; functional mailboxes (e.g. the préfecture's) are preferred.
    """

    role: TroikaRole
    email: Email


class ConventionSignatory(ContractModel):
    """A signatory of a convention-cadre: the party and the institution (never a person)."""

    party: ConventionParty
    institution: Name = Field(description="e.g. « Préfecture du Rhône », « Académie de Lyon »,"
                              " « Ville de Vaulx-en-Velin »")


class TroikaSeat(ContractModel):
    """A signatory of the candidature: the role, and the id of the signatory's card on
    ``labelling.contacts`` (where the address is, erasable)."""

    role: TroikaRole
    contact_id: UUID


# --- labelling.candidatures ---------------------------------------------------------------


@event(
    "labelling.CandidatureSubmitted",
    topic=LABELLING_CANDIDATURES,
    key="candidature_id",
    emitted_when="A préfecture files a complete candidature for a territory.",
    retired="Carried the troïka's e-mail addresses on a kept topic, out of erasure's reach. "
    "Replaced by version 2 (troïka seats by contact id) and labelling.TroikaContactPublished "
    "on the compacted labelling.contacts.",
)
class CandidatureSubmittedV1(Event):
    """A candidature was filed for a territory by its troïka.

    Producer: labelling. Topic: ``labelling.candidatures``. Key: ``candidature_id``.
    Emitted when a préfecture files a complete candidature. Consumed by notifications to
    acknowledge receipt to the troïka. ``troika`` is the only personal data in the
    labelling events (role + e-mail, no names): consumers keep it only as long as the
    candidature is open or the cité labelled. The dossier itself (diagnostic, action
    plan…) stays in labelling.
    """

    model_config = ConfigDict(title="CandidatureSubmitted")

    candidature_id: UUID
    territory_name: Name
    departement: RetiredDepartement
    wave: Wave
    perimeter: PerimeterV1
    lead_college_uai: Uai = Field(description="UAI of the proposed collège chef de file")
    troika: tuple[TroikaMember, ...] = Field(min_length=1, max_length=4)
    submitted_by: ActorRole
    submitted_at: UtcDateTime
    requested_annual_contribution: Cents | None = Field(
        default=None, description="Annual State contribution the territory asks for (cents)"
    )


@event(
    "labelling.CandidatureSubmitted",
    topic=LABELLING_CANDIDATURES,
    key="candidature_id",
    emitted_when="A préfecture files a complete candidature for a territory.",
    version=2,
    retired=_WIDER_CODES.format(version=3),
)
class CandidatureSubmittedV2(Event):
    """A candidature was filed for a territory by its troïka.

    Producer: labelling. Topic: ``labelling.candidatures``. Key: ``candidature_id``.
    Emitted when a préfecture files a complete candidature. Consumed by notifications to
    acknowledge receipt to the troïka, whose addresses it finds on ``labelling.contacts``
    by ``troika[].contact_id`` (their cards are published in the same transaction, so
    they are there first on that topic). No personal data. The dossier itself
    (diagnostic, action plan…) stays in labelling.
    """

    model_config = ConfigDict(title="CandidatureSubmitted")

    candidature_id: UUID
    territory_name: Name
    departement: RetiredDepartement
    wave: Wave
    perimeter: PerimeterV1
    lead_college_uai: Uai = Field(description="UAI of the proposed collège chef de file")
    troika: tuple[TroikaSeat, ...] = Field(min_length=1, max_length=4)
    submitted_by: ActorRole
    submitted_at: UtcDateTime
    requested_annual_contribution: Cents | None = Field(
        default=None, description="Annual State contribution the territory asks for (cents)"
    )


@event(
    "labelling.CandidatureSubmitted",
    topic=LABELLING_CANDIDATURES,
    key="candidature_id",
    emitted_when="A préfecture files a complete candidature for a territory.",
    version=3,
)
class CandidatureSubmitted(Event):
    """A candidature was filed for a territory by its troïka.

    Producer: labelling. Topic: ``labelling.candidatures``. Key: ``candidature_id``.
    Emitted when a préfecture files a complete candidature. Consumed by notifications to
    acknowledge receipt to the troïka, whose addresses it finds on ``labelling.contacts``
    by ``troika[].contact_id`` (their cards are published in the same transaction, so
    they are there first on that topic). No personal data. The perimeter says which QPV
    list it refers to. The dossier itself
    (diagnostic, action plan…) stays in labelling.
    """

    candidature_id: UUID
    territory_name: Name
    departement: Departement
    wave: Wave
    perimeter: Perimeter
    lead_college_uai: Uai = Field(description="UAI of the proposed collège chef de file")
    troika: tuple[TroikaSeat, ...] = Field(min_length=1, max_length=4)
    submitted_by: ActorRole
    submitted_at: UtcDateTime
    requested_annual_contribution: Cents | None = Field(
        default=None, description="Annual State contribution the territory asks for (cents)"
    )
    filed_on: date | None = Field(
        default=None, description="The date it was filed in the programme (business date: an "
        "imported candidature's is its record's); absent from events published before it "
        "existed, whose filing date is submitted_at's, Paris time")


@upcasts(CandidatureSubmittedV2, CandidatureSubmitted)
def _candidature_submitted_v3(old: CandidatureSubmittedV2) -> CandidatureSubmitted:
    return CandidatureSubmitted.model_validate(
        {**old.model_dump(), "perimeter": old.perimeter.upcast()})


@event(
    "labelling.TroikaContactPublished",
    topic=LABELLING_CONTACTS,
    key="contact_id",
    emitted_when="A candidature is submitted: one card per troïka signatory. Erasure of a "
    "signatory publishes a tombstone (null value) for its key instead.",
)
class TroikaContactPublished(Event):
    """The card of one troïka signatory of a candidature: the mailbox to write to.

    Producer: labelling. Topic: ``labelling.contacts``. Key: ``contact_id``.
    A compacted topic. **Personal data**: the only labelling event that carries an
    address (no names; functional mailboxes are preferred). The topic keeps only each
    signatory's last record; a null value (tombstone) means the signatory was erased:
    forget the address.
    """

    contact_id: UUID
    candidature_id: UUID
    role: TroikaRole
    email: Email
    published_at: UtcDateTime


@event(
    "labelling.CandidatureReviewStarted",
    topic=LABELLING_CANDIDATURES,
    key="candidature_id",
    emitted_when="The national coordination starts scoring a submitted candidature.",
)
class CandidatureReviewStarted(Event):
    """A submitted candidature is now under review by the national coordination.

    Producer: labelling. Topic: ``labelling.candidatures``. Key: ``candidature_id``.
    Emitted once, when the first criterion of the wave's review grid is scored: from then
    on the candidature awaits its decision. Notifications may tell the troïka; the scores
    themselves stay in labelling.
    """

    candidature_id: UUID
    wave: Wave
    review_criteria: tuple[Slug, ...] = Field(
        default=(), description="Codes of the wave's criteria the dossier is scored on"
    )
    started_by: ActorRole
    started_at: UtcDateTime


@event(
    "labelling.CandidatureWithdrawn",
    topic=LABELLING_CANDIDATURES,
    key="candidature_id",
    emitted_when="The troïka withdraws a candidature before it is decided.",
)
class CandidatureWithdrawn(Event):
    """A candidature was withdrawn before any decision.

    Producer: labelling. Topic: ``labelling.candidatures``. Key: ``candidature_id``.
    Emitted when the troïka (through its préfecture) withdraws a pending candidature.
    """

    candidature_id: UUID
    motive: Motive | None = None
    withdrawn_by: ActorRole
    withdrawn_at: UtcDateTime


@event(
    "labelling.CandidatureRejected",
    topic=LABELLING_CANDIDATURES,
    key="candidature_id",
    emitted_when="The national coordination decides not to label a candidature.",
)
class CandidatureRejected(Event):
    """A candidature was not selected.

    Producer: labelling. Topic: ``labelling.candidatures``. Key: ``candidature_id``.
    Emitted when the national coordination rejects a candidature (ineligible under the
    wave's rule set, or not selected). Notifications tells the troïka, with the motive.
    """

    candidature_id: UUID
    wave: Wave
    motive: Motive
    unmet_criteria: tuple[Slug, ...] = Field(
        default=(), description="Codes of the wave's criteria the dossier did not meet"
    )
    decided_by: ActorRole
    decided_at: UtcDateTime
    decided_on: date | None = Field(
        default=None, description="The date the decision takes effect in the programme "
        "(business date); absent from events written before it was carried: the Paris date "
        "of ``decided_at``"
    )


# --- labelling.labels ---------------------------------------------------------------------


@event(
    "labelling.TerritoryLabelled",
    topic=LABELLING_LABELS,
    key="cite_id",
    emitted_when="The national coordination labels a candidature: a new cité is born.",
    retired=_WIDER_CODES.format(version=2),
)
class TerritoryLabelledV1(Event):
    """A territory received the Cité éducative label: first event of a cité.

    Producer: labelling. Topic: ``labelling.labels``. Key: ``cite_id``.
    Emitted when the national coordination labels a candidature. Partners opens the
    alliance with the lead collège as chef de file; funding allocates the dotation from
    the wave's envelope and grants the fonds de la cité; notifications tells the troïka
    (known from ``candidature_id``) and the alliance.
    """

    model_config = ConfigDict(title="TerritoryLabelled")

    cite_id: CiteId
    candidature_id: UUID
    name: Name
    wave: Wave
    departement: RetiredDepartement
    perimeter: PerimeterV1
    lead_college_uai: Uai = Field(description="UAI of the collège chef de file")
    label_period: LabelPeriod
    convention_signed_on: date | None = Field(
        default=None, description="Signature date of the triennial convention, if signed yet"
    )
    decided_by: ActorRole
    labelled_at: UtcDateTime
    decided_on: date | None = Field(
        default=None, description="The date the decision takes effect in the programme "
        "(business date; may precede the recording, e.g. history taken over); absent from "
        "events written before it was carried: the Paris date of ``labelled_at``"
    )
    requested_annual_contribution: Cents | None = Field(
        default=None,
        description="Annual State contribution the candidature asked for (cents); funding "
        "may use it to size the dotation",
    )


@event(
    "labelling.TerritoryLabelled",
    topic=LABELLING_LABELS,
    key="cite_id",
    emitted_when="The national coordination labels a candidature: a new cité is born.",
    version=2,
)
class TerritoryLabelled(Event):
    """A territory received the Cité éducative label: first event of a cité.

    Producer: labelling. Topic: ``labelling.labels``. Key: ``cite_id``.
    Emitted when the national coordination labels a candidature. Partners opens the
    alliance with the lead collège as chef de file; funding allocates the dotation from
    the wave's envelope and grants the fonds de la cité; notifications tells the troïka
    (known from ``candidature_id``) and the alliance.
    """

    cite_id: CiteId
    candidature_id: UUID
    name: Name
    wave: Wave
    departement: Departement
    perimeter: Perimeter
    lead_college_uai: Uai = Field(description="UAI of the collège chef de file")
    label_period: LabelPeriod
    convention_signed_on: date | None = Field(
        default=None, description="Signature date of the triennial convention, if signed yet"
    )
    decided_by: ActorRole
    labelled_at: UtcDateTime
    decided_on: date | None = Field(
        default=None, description="The date the decision takes effect in the programme "
        "(business date; may precede the recording, e.g. history taken over); absent from "
        "events written before it was carried: the Paris date of ``labelled_at``"
    )
    requested_annual_contribution: Cents | None = Field(
        default=None,
        description="Annual State contribution the candidature asked for (cents); funding "
        "may use it to size the dotation",
    )
    reference: CiteReference | None = Field(
        default=None,
        description="The programme's own reference of a cité taken over (its import "
        "record's ``reference``), by which its past money is imported too; absent for a "
        "cité labelled on the platform")


@upcasts(TerritoryLabelledV1, TerritoryLabelled)
def _territory_labelled_v2(old: TerritoryLabelledV1) -> TerritoryLabelled:
    return TerritoryLabelled.model_validate(
        {**old.model_dump(), "perimeter": old.perimeter.upcast()})


@event(
    "labelling.LabelRenewed",
    topic=LABELLING_LABELS,
    key="cite_id",
    emitted_when="The national coordination renews a cité's label for a new period.",
)
class LabelRenewed(Event):
    """A cité's label was renewed.

    Producer: labelling. Topic: ``labelling.labels``. Key: ``cite_id``.
    Emitted when the national coordination renews a label (e.g. the 2022 cités for
    2025–2027). Funding allocates for the new period's years. A renewal may come with a new
    perimeter (``perimeter``: e.g. moved from the 2015 QPV list to the 2024 one, or
    extended), which consumers take as they take an extension's.
    """

    cite_id: CiteId
    previous_period: LabelPeriod
    label_period: LabelPeriod
    convention_signed_on: date | None = None
    decided_by: ActorRole
    renewed_at: UtcDateTime
    decided_on: date | None = Field(
        default=None, description="The date the decision takes effect in the programme "
        "(business date; may precede the recording, e.g. history taken over); absent from "
        "events written before it was carried: the Paris date of ``renewed_at``"
    )
    perimeter: Perimeter | None = Field(
        default=None, description="The cité's whole perimeter from this renewal on, when the "
        "renewal changes it (e.g. moved to the 2024 QPV list); absent: unchanged")
    review_id: UUID | None = Field(
        default=None, description="The revue de projet the decision cites: a review of this "
        "cité submitted to the coordination (``labelling.ProjectReviewSubmitted``)")


@event(
    "labelling.RenewalApplied",
    topic=LABELLING_LABELS,
    key="cite_id",
    emitted_when="The préfecture re-applies for a cité's label, in the last months of its "
    "period.",
)
class RenewalApplied(Event):
    """A cité re-applied for its label (the 2022 cités re-applied at the end of 2024).

    Producer: labelling. Topic: ``labelling.labels``. Key: ``cite_id``.
    Emitted when the préfecture files the re-application inside the renewal window of the
    current period. Until the national coordination renews or refuses, the label does not
    expire at the end of its period: the renewal may be decided after it (the 2022 cités
    were renewed on 21 March 2025 for 2025–2027).
    """

    cite_id: CiteId
    label_period: LabelPeriod = Field(description="The period the re-application follows")
    filed_on: date = Field(description="The date it was filed in the programme (business date)")
    filed_by: ActorRole
    applied_at: UtcDateTime


@event(
    "labelling.RenewalRefused",
    topic=LABELLING_LABELS,
    key="cite_id",
    emitted_when="The national coordination refuses a cité's re-application, giving a motive.",
)
class RenewalRefused(Event):
    """A re-application was refused: the label ends with its period (it expires the day
    after, or at once when that day is past).

    Producer: labelling. Topic: ``labelling.labels``. Key: ``cite_id``.
    """

    cite_id: CiteId
    label_period: LabelPeriod
    motive: Motive
    decided_on: date = Field(description="The decision's date in the programme (business date)")
    decided_by: ActorRole
    refused_at: UtcDateTime
    review_id: UUID | None = Field(
        default=None, description="The revue de projet the decision cites: a review of this "
        "cité submitted to the coordination (``labelling.ProjectReviewSubmitted``)")


@event(
    "labelling.ConventionSigned",
    topic=LABELLING_LABELS,
    key="cite_id",
    emitted_when="The signature of a cité's triennial convention is recorded after labelling.",
)
class ConventionSigned(Event):
    """The triennial convention of a cité's current label period was signed.

    Producer: labelling. Topic: ``labelling.labels``. Key: ``cite_id``.
    Emitted when the signature date is recorded after the label was granted or renewed
    (a date known at that moment travels in :class:`TerritoryLabelled` or
    :class:`LabelRenewed` instead). Signed by préfet, recteur and maire.
    """

    cite_id: CiteId
    label_period: LabelPeriod
    signed_on: date
    recorded_by: ActorRole
    recorded_at: UtcDateTime
    signatories: tuple[ConventionSignatory, ...] = Field(
        default=(), description="Who signed it — the préfet, the recteur, the collectivité, "
        "others; absent when not recorded")


@event(
    "labelling.ConventionAmended",
    topic=LABELLING_LABELS,
    key="cite_id",
    emitted_when="An amendment (avenant) to a cité's convention-cadre is recorded.",
)
class ConventionAmended(Event):
    """An amendment to the convention of the cité's latest label period was signed:
    numbered in order, never dated before the convention it amends.

    Producer: labelling. Topic: ``labelling.labels``. Key: ``cite_id``.
    """

    cite_id: CiteId
    label_period: LabelPeriod
    number: int = Field(ge=1, description="1 for the first amendment of the period's convention")
    signed_on: date
    object: Motive = Field(description="What it changes, in words")
    recorded_by: ActorRole
    recorded_at: UtcDateTime


@event(
    "labelling.PerimeterExtended",
    topic=LABELLING_LABELS,
    key="cite_id",
    emitted_when="The national coordination accepts an extension of a cité's perimeter.",
    retired=_WIDER_CODES.format(version=2),
)
class PerimeterExtendedV1(Event):
    """A cité's perimeter was extended.

    Producer: labelling. Topic: ``labelling.labels``. Key: ``cite_id``.
    Emitted when an extension is accepted. Carries what was added and the whole
    perimeter after the extension, so a consumer can replace its copy.
    """

    model_config = ConfigDict(title="PerimeterExtended")

    cite_id: CiteId
    added: PerimeterAdditionV1
    perimeter: PerimeterV1
    decided_by: ActorRole
    extended_at: UtcDateTime
    decided_on: date | None = Field(
        default=None, description="The date the decision takes effect in the programme "
        "(business date; may precede the recording, e.g. history taken over); absent from "
        "events written before it was carried: the Paris date of ``extended_at``"
    )


@event(
    "labelling.PerimeterExtended",
    topic=LABELLING_LABELS,
    key="cite_id",
    emitted_when="The national coordination accepts an extension of a cité's perimeter.",
    version=2,
)
class PerimeterExtended(Event):
    """A cité's perimeter was extended.

    Producer: labelling. Topic: ``labelling.labels``. Key: ``cite_id``.
    Emitted when an extension is accepted. Carries what was added and the whole
    perimeter after the extension, so a consumer can replace its copy. An extension adds
    QPVs of the perimeter's list only.
    """

    cite_id: CiteId
    added: PerimeterAddition
    perimeter: Perimeter
    decided_by: ActorRole
    extended_at: UtcDateTime
    decided_on: date | None = Field(
        default=None, description="The date the decision takes effect in the programme "
        "(business date; may precede the recording, e.g. history taken over); absent from "
        "events written before it was carried: the Paris date of ``extended_at``"
    )


@upcasts(PerimeterExtendedV1, PerimeterExtended)
def _perimeter_extended_v2(old: PerimeterExtendedV1) -> PerimeterExtended:
    return PerimeterExtended.model_validate(
        {**old.model_dump(), "perimeter": old.perimeter.upcast()})


@event(
    "labelling.LabelSuspended",
    topic=LABELLING_LABELS,
    key="cite_id",
    emitted_when="The national coordination suspends a label, giving a motive.",
)
class LabelSuspended(Event):
    """A cité's label was suspended.

    Producer: labelling. Topic: ``labelling.labels``. Key: ``cite_id``.
    Emitted when the national coordination suspends a label. Funding freezes what is not
    yet committed.
    """

    cite_id: CiteId
    motive: Motive
    decided_by: ActorRole
    suspended_at: UtcDateTime
    effective_on: date | None = Field(
        default=None, description="The date the suspension takes effect in the programme "
        "(business date); absent from events written before it was carried: the Paris date "
        "of ``suspended_at``"
    )
    review_id: UUID | None = Field(
        default=None, description="The revue de projet the decision cites: a review of this "
        "cité submitted to the coordination (``labelling.ProjectReviewSubmitted``)")


@event(
    "labelling.LabelReinstated",
    topic=LABELLING_LABELS,
    key="cite_id",
    emitted_when="The national coordination lifts a suspension.",
)
class LabelReinstated(Event):
    """A suspended label is active again.

    Producer: labelling. Topic: ``labelling.labels``. Key: ``cite_id``.
    Emitted when the national coordination lifts a suspension.
    """

    cite_id: CiteId
    motive: Motive | None = None
    decided_by: ActorRole
    reinstated_at: UtcDateTime
    effective_on: date | None = Field(
        default=None, description="The date the reinstatement takes effect in the programme "
        "(business date); absent from events written before it was carried: the Paris date "
        "of ``reinstated_at``"
    )


@event(
    "labelling.LabelWithdrawn",
    topic=LABELLING_LABELS,
    key="cite_id",
    emitted_when="The national coordination withdraws a label, giving a motive.",
)
class LabelWithdrawn(Event):
    """A cité's label was withdrawn: the cité ends.

    Producer: labelling. Topic: ``labelling.labels``. Key: ``cite_id``.
    Emitted when the national coordination withdraws a label. Partners closes the
    alliance; funding freezes what is not committed; notifications tells everyone.
    """

    cite_id: CiteId
    motive: Motive
    effective_on: date
    decided_by: ActorRole
    withdrawn_at: UtcDateTime
    review_id: UUID | None = Field(
        default=None, description="The revue de projet the decision cites: a review of this "
        "cité submitted to the coordination (``labelling.ProjectReviewSubmitted``)")


@event(
    "labelling.LabelExpired",
    topic=LABELLING_LABELS,
    key="cite_id",
    emitted_when="A label's period ends without renewal (daily check by labelling).",
)
class LabelExpired(Event):
    """A cité's label reached the end of its period without renewal: the cité ends.

    Producer: labelling. Topic: ``labelling.labels``. Key: ``cite_id``.
    Emitted by labelling's daily check the day after ``label_period.end``. Same
    consequences as a withdrawal.
    """

    cite_id: CiteId
    label_period: LabelPeriod
    expired_at: UtcDateTime


# --- labelling.reviews --------------------------------------------------------------------


class ReviewAction(ContractModel):
    """An action of a revue de projet's updated action plan."""

    title: Name
    objective: ReviewObjective
    age_group: AgeGroup
    theme: ReviewTheme
    cost: Cents = Field(description="What the action costs in the year, all funders")


class ReviewIndicator(ContractModel):
    """An evaluation indicator of the convention's protocole de suivi et d'évaluation, as
    measured for the year."""

    code: Slug = Field(description="The indicator's code in the protocol, e.g. "
                       "``absenteisme-college``: the national synthesis adds cités up by it")
    label: Name
    value: IndicatorValue
    unit: Name | None = Field(default=None, description="e.g. « % », « élèves »")


class ReviewMoney(ContractModel):
    """The State's money of the cité's year, as funding's events told it (never retyped):
    the dotation allocated (after revisions and releases), the fonds de la cité granted,
    what was committed (net of cancellations), paid, and ordered back; the co-financing
    declared for the year."""

    allocated: Cents
    fonds: Cents
    committed: Cents
    paid: Cents
    ordered_back: Cents
    cofinancing: Cents


class TroikaValidation(ContractModel):
    """A troïka member's validation of a revue de projet, on a business date."""

    role: TroikaRole
    validated_on: date


@event(
    "labelling.ProjectReviewOpened",
    topic=LABELLING_REVIEWS,
    key="cite_id",
    emitted_when="The national coordination opens the year's revue de projet campaign: one "
    "review for every cité labelled that year.",
)
class ProjectReviewOpened(Event):
    """A cité's revue de projet for a year is open, due by ``due_on``.

    Producer: labelling. Topic: ``labelling.reviews``. Key: ``cite_id``.
    Emitted for each cité whose label covers part of the year when the coordination opens
    (or opens again) the year's campaign. Notifications reminds the troïka before the
    deadline; the dashboard counts the reviews due.
    """

    review_id: UUID
    cite_id: CiteId
    departement: Departement
    year: ProgrammeYear
    due_on: date
    opened_by: ActorRole
    opened_at: UtcDateTime


@event(
    "labelling.ProjectReviewValidated",
    topic=LABELLING_REVIEWS,
    key="cite_id",
    emitted_when="The troïka's validation of a filled revue de projet is recorded.",
)
class ProjectReviewValidated(Event):
    """The local stakeholders validated the review's content: the préfet, the recteur and
    the maire (or the EPCI's president). A change to the content afterwards needs their
    validation again.

    Producer: labelling. Topic: ``labelling.reviews``. Key: ``cite_id``.
    """

    review_id: UUID
    cite_id: CiteId
    year: ProgrammeYear
    validations: tuple[TroikaValidation, ...] = Field(min_length=3)
    recorded_by: ActorRole
    validated_at: UtcDateTime


@event(
    "labelling.ProjectReviewSubmitted",
    topic=LABELLING_REVIEWS,
    key="cite_id",
    emitted_when="A validated revue de projet is submitted to the national coordination.",
)
class ProjectReviewSubmitted(Event):
    """A cité's revue de projet for a year reached the national coordination, as
    validated: the action plan, the money of the year (from funding's events), the
    commune's contribution and the indicators. ``late`` when submitted after ``due_on``.

    Producer: labelling. Topic: ``labelling.reviews``. Key: ``cite_id``.
    The coordination's decisions (suspension, renewal) may cite its ``review_id``.
    """

    review_id: UUID
    cite_id: CiteId
    departement: Departement
    year: ProgrammeYear
    due_on: date
    submitted_on: date = Field(description="The business date it was submitted")
    late: bool
    actions: tuple[ReviewAction, ...] = Field(min_length=1)
    money: ReviewMoney
    commune_contribution: Cents
    indicators: tuple[ReviewIndicator, ...] = ()
    submitted_by: ActorRole
    submitted_at: UtcDateTime


@event(
    "labelling.ProjectReviewOverdue",
    topic=LABELLING_REVIEWS,
    key="cite_id",
    emitted_when="A revue de projet was not submitted by its deadline (daily check).",
)
class ProjectReviewOverdue(Event):
    """A cité's revue de projet for a year was not submitted by ``due_on``; it may still be
    submitted (late).

    Producer: labelling. Topic: ``labelling.reviews``. Key: ``cite_id``.
    Emitted once, by labelling's daily check, the day after the deadline.
    """

    review_id: UUID
    cite_id: CiteId
    departement: Departement
    year: ProgrammeYear
    due_on: date
    noted_at: UtcDateTime
