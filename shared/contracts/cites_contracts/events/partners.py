"""Events of the ``partners`` service: the partner registry and each cité's alliance.

Registry events (``partners.registry``, key ``partner_id``) carry the partner's whole
current state, so a consumer replaces its copy instead of applying a diff. Since version 2
they name consenting contacts by id only: a contact's e-mail travels on the compacted
``partners.contacts`` (key ``contact_id``), where erasure's tombstone reaches every copy.
Alliance events
(``partners.alliances``, key ``cite_id``) share the key of the label stream: one cité, one
alliance.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from pydantic import ConfigDict, Field

from ..envelope import Event, event, upcasts
from ..topics import PARTNERS_ALLIANCES, PARTNERS_CONTACTS, PARTNERS_REGISTRY
from ..types import (
    AllianceClosureReason,
    AllianceRole,
    CiteId,
    ContractModel,
    Departement,
    Email,
    InseeCode,
    Motive,
    Name,
    PartnerKind,
    RetiredDepartement,
    RetiredInseeCode,
    Siren,
    Siret,
    Uai,
    UtcDateTime,
)

__all__ = [
    "AllianceClosed",
    "AllianceOpened",
    "ChefDeFileDesignated",
    "ChefDeProjetAppointed",
    "ChefDeProjetPostVacated",
    "CollectiviteCheffeDeFileDesignated",
    "ContactCardPublished",
    "ContactErased",
    "PartnerContact",
    "PartnerJoinedAlliance",
    "PartnerLeftAlliance",
    "PartnerRegistered",
    "PartnerRegisteredV1",
    "PartnerRegisteredV2",
    "PartnerState",
    "PartnerStateV1",
    "PartnerStateV2",
    "PartnerUpdated",
    "PartnerUpdatedV1",
    "PartnerUpdatedV2",
]

_RETIRED = ("Carried the contacts' e-mail addresses on a kept topic, out of erasure's "
            "reach. Replaced by version 2 (contact ids) and partners.ContactCardPublished "
            "on the compacted partners.contacts.")


class PartnerContact(ContractModel):
    """A contact who consented to receive the programme's e-mails: id and e-mail only
    (version 1 of the registry events, retired).

    Personal data: notifications needs the address to write to the partner and may not
    ask partners synchronously. Names, phones and functions never leave partners. On
    erasure, :class:`ContactErased` tells every consumer to forget ``contact_id``.
    """

    contact_id: UUID
    email: Email


class _RetiredPartnerFields(Event):
    """What the retired versions of the registry snapshots say of the organisation itself
    (no Saint-Martin: their committed schemas do not change).

    Identifiers by kind: école/collège/lycée → ``uai``; commune → ``insee_code`` (and
    ``siren``); EPCI, département, région, CAF, State services → ``siren`` or ``siret``;
    association, entreprise → ``siret``.
    """

    partner_id: UUID
    kind: PartnerKind
    name: Name = Field(description="Name of the organisation")
    departement: RetiredDepartement | None = None
    uai: Uai | None = None
    siret: Siret | None = None
    siren: Siren | None = None
    insee_code: RetiredInseeCode | None = None
    commune_insee_code: RetiredInseeCode | None = Field(
        default=None,
        description="INSEE code of the commune the organisation is located in (a commune's "
        "own code for a commune); lets consumers find a commune's partners",
    )


class _PartnerFields(Event):
    """What the registry snapshots say of the organisation itself.

    Identifiers by kind: école/collège/lycée → ``uai``; commune → ``insee_code`` (and
    ``siren``); EPCI, département, région, CAF, State services → ``siren`` or ``siret``;
    association, entreprise → ``siret``.
    """

    partner_id: UUID
    kind: PartnerKind
    name: Name = Field(description="Name of the organisation")
    departement: Departement | None = None
    uai: Uai | None = None
    siret: Siret | None = None
    siren: Siren | None = None
    insee_code: InseeCode | None = None
    commune_insee_code: InseeCode | None = Field(
        default=None,
        description="INSEE code of the commune the organisation is located in (a commune's "
        "own code for a commune); lets consumers find a commune's partners",
    )


class PartnerStateV1(_RetiredPartnerFields):
    """Fields shared by the version 1 registry snapshots (not an event on its own)."""

    model_config = ConfigDict(title="PartnerState")

    contacts: tuple[PartnerContact, ...] = Field(
        default=(), description="Consenting contacts; the full list, replacing the previous one"
    )


@event(
    "partners.PartnerRegistered",
    topic=PARTNERS_REGISTRY,
    key="partner_id",
    emitted_when="A partner organisation is added to the registry.",
    retired=_RETIRED,
)
class PartnerRegisteredV1(PartnerStateV1):
    """A partner organisation joined the registry.

    Producer: partners. Topic: ``partners.registry``. Key: ``partner_id``.
    Emitted when an organisation is registered (by an operator, or automatically for the
    lead collège of a newly labelled cité). Carries its whole state.
    """

    model_config = ConfigDict(title="PartnerRegistered")

    registered_at: UtcDateTime


@event(
    "partners.PartnerUpdated",
    topic=PARTNERS_REGISTRY,
    key="partner_id",
    emitted_when="A partner's details or its list of consenting contacts change.",
    retired=_RETIRED,
)
class PartnerUpdatedV1(PartnerStateV1):
    """A partner's state changed; the event carries the whole new state.

    Producer: partners. Topic: ``partners.registry``. Key: ``partner_id``.
    Emitted on any change of the partner, including a contact added or removed. A
    contact missing from ``contacts`` is no longer to be written to.
    """

    model_config = ConfigDict(title="PartnerUpdated")

    updated_at: UtcDateTime


_WIDER_CODES = ("Its codes could not name Saint-Martin (978) nor its communes. Replaced by "
                "version 3; consumers apply its records as version 3 (upcast: the same "
                "fields).")


class PartnerStateV2(_RetiredPartnerFields):
    """Fields shared by the version 2 registry snapshots (not an event on its own)."""

    model_config = ConfigDict(title="PartnerState")

    contact_ids: tuple[UUID, ...] = Field(
        default=(),
        description="Its consenting contacts, by id: the full list, replacing the previous "
        "one. Their cards (e-mail) are on partners.contacts, keyed by contact id.",
    )


@event(
    "partners.PartnerRegistered",
    version=2,
    topic=PARTNERS_REGISTRY,
    key="partner_id",
    emitted_when="A partner organisation is added to the registry.",
    retired=_WIDER_CODES,
)
class PartnerRegisteredV2(PartnerStateV2):
    """A partner organisation joined the registry.

    Producer: partners. Topic: ``partners.registry``. Key: ``partner_id``.
    Emitted when an organisation is registered (by an operator, or automatically for the
    lead collège of a newly labelled cité). Carries its whole state; no personal data.
    """

    model_config = ConfigDict(title="PartnerRegistered")

    registered_at: UtcDateTime


@event(
    "partners.PartnerUpdated",
    version=2,
    topic=PARTNERS_REGISTRY,
    key="partner_id",
    emitted_when="A partner's details or its list of consenting contacts change.",
    retired=_WIDER_CODES,
)
class PartnerUpdatedV2(PartnerStateV2):
    """A partner's state changed; the event carries the whole new state.

    Producer: partners. Topic: ``partners.registry``. Key: ``partner_id``.
    Emitted on any change of the partner, including a contact who starts or stops
    consenting. A contact missing from ``contact_ids`` is no longer to be written to.
    No personal data: addresses are on ``partners.contacts``.
    """

    model_config = ConfigDict(title="PartnerUpdated")

    updated_at: UtcDateTime


class PartnerState(_PartnerFields):
    """Fields shared by the registry snapshots (not an event on its own)."""

    contact_ids: tuple[UUID, ...] = Field(
        default=(),
        description="Its consenting contacts, by id: the full list, replacing the previous "
        "one. Their cards (e-mail) are on partners.contacts, keyed by contact id.",
    )


@event(
    "partners.PartnerRegistered",
    version=3,
    topic=PARTNERS_REGISTRY,
    key="partner_id",
    emitted_when="A partner organisation is added to the registry.",
)
class PartnerRegistered(PartnerState):
    """A partner organisation joined the registry.

    Producer: partners. Topic: ``partners.registry``. Key: ``partner_id``.
    Emitted when an organisation is registered (by an operator, or automatically for the
    lead collège of a newly labelled cité). Carries its whole state; no personal data.
    """

    registered_at: UtcDateTime


@event(
    "partners.PartnerUpdated",
    version=3,
    topic=PARTNERS_REGISTRY,
    key="partner_id",
    emitted_when="A partner's details or its list of consenting contacts change.",
)
class PartnerUpdated(PartnerState):
    """A partner's state changed; the event carries the whole new state.

    Producer: partners. Topic: ``partners.registry``. Key: ``partner_id``.
    Emitted on any change of the partner, including a contact who starts or stops
    consenting. A contact missing from ``contact_ids`` is no longer to be written to.
    No personal data: addresses are on ``partners.contacts``.
    """

    updated_at: UtcDateTime


@upcasts(PartnerRegisteredV2, PartnerRegistered)
def _partner_registered_v3(old: PartnerRegisteredV2) -> PartnerRegistered:
    return PartnerRegistered.model_validate(old.model_dump())


@upcasts(PartnerUpdatedV2, PartnerUpdated)
def _partner_updated_v3(old: PartnerUpdatedV2) -> PartnerUpdated:
    return PartnerUpdated.model_validate(old.model_dump())


@event(
    "partners.ContactCardPublished",
    topic=PARTNERS_CONTACTS,
    key="contact_id",
    emitted_when="A contact starts consenting to the programme's e-mails, or a consenting "
    "contact's e-mail changes. Its erasure, or its consent withdrawn, publishes a "
    "tombstone (null value) for its key instead.",
)
class ContactCardPublished(Event):
    """The current card of a consenting contact: whom to write to, for which partner.

    Producer: partners. Topic: ``partners.contacts``. Key: ``contact_id``.
    A compacted topic. **Personal data**: the only partners event that carries an
    address. The topic keeps only each contact's last record; a record with a null value
    (tombstone) means the contact is erased or withdrew consent: forget every address
    held for ``contact_id``.
    Names, phones and functions never leave partners.
    """

    contact_id: UUID
    partner_id: UUID
    email: Email
    published_at: UtcDateTime


@event(
    "partners.ContactErased",
    topic=PARTNERS_REGISTRY,
    key="partner_id",
    emitted_when="A contact's personal data is erased on request (GDPR right to erasure).",
)
class ContactErased(Event):
    """A contact exercised the right to erasure: forget everything held about them.

    Producer: partners. Topic: ``partners.registry``. Key: ``partner_id``.
    Emitted when partners erases a contact. Carries ids only, no personal data: every
    consumer deletes what it holds for ``contact_id`` (e.g. notifications' addresses).
    """

    partner_id: UUID
    contact_id: UUID
    erased_at: UtcDateTime


@event(
    "partners.AllianceOpened",
    topic=PARTNERS_ALLIANCES,
    key="cite_id",
    emitted_when="A cité is labelled: partners opens its alliance with the lead collège.",
)
class AllianceOpened(Event):
    """A cité's alliance éducative was opened with its collège chef de file.

    Producer: partners. Topic: ``partners.alliances``. Key: ``cite_id``.
    Emitted in reaction to ``labelling.TerritoryLabelled``; the lead collège is the
    first member, with the role chef_de_file.
    """

    cite_id: CiteId
    chef_de_file_partner_id: UUID
    chef_de_file_uai: Uai
    opened_at: UtcDateTime


@event(
    "partners.PartnerJoinedAlliance",
    topic=PARTNERS_ALLIANCES,
    key="cite_id",
    emitted_when="A partner becomes a member of a cité's alliance.",
)
class PartnerJoinedAlliance(Event):
    """A partner joined a cité's alliance with one or more roles.

    Producer: partners. Topic: ``partners.alliances``. Key: ``cite_id``.
    Emitted when a partner is added to an alliance. Notifications adds the partner's
    contacts (known from ``partners.registry``) to the cité's recipients.
    """

    cite_id: CiteId
    partner_id: UUID
    partner_kind: PartnerKind
    roles: tuple[AllianceRole, ...] = Field(min_length=1)
    joined_at: UtcDateTime


@event(
    "partners.PartnerLeftAlliance",
    topic=PARTNERS_ALLIANCES,
    key="cite_id",
    emitted_when="A partner stops being a member of a cité's alliance.",
)
class PartnerLeftAlliance(Event):
    """A partner left a cité's alliance.

    Producer: partners. Topic: ``partners.alliances``. Key: ``cite_id``.
    Emitted when a member leaves or is removed. Notifications drops its contacts from
    the cité's recipients after telling them.
    """

    cite_id: CiteId
    partner_id: UUID
    motive: Motive | None = None
    left_at: UtcDateTime


@event(
    "partners.ChefDeFileDesignated",
    topic=PARTNERS_ALLIANCES,
    key="cite_id",
    emitted_when="A collège becomes chef de file of an alliance: the lead collège when the "
    "alliance opens, then any collège that replaces it.",
)
class ChefDeFileDesignated(Event):
    """The alliance's collège chef de file (there is always exactly one) was designated.

    Producer: partners. Topic: ``partners.alliances``. Key: ``cite_id``.
    Emitted right after ``AllianceOpened`` for the lead collège (``previous_partner_id``
    null), then each time another collège replaces the chef de file, so a consumer
    following chefs de file needs this event alone. Funding places the next fonds de la
    cité with it.
    """

    cite_id: CiteId
    partner_id: UUID
    uai: Uai
    previous_partner_id: UUID | None = None
    designated_at: UtcDateTime


@event(
    "partners.AllianceClosed",
    topic=PARTNERS_ALLIANCES,
    key="cite_id",
    emitted_when="A cité's label is withdrawn or expires: partners closes its alliance.",
)
class AllianceClosed(Event):
    """A cité's alliance was closed; no member may join any more.

    Producer: partners. Topic: ``partners.alliances``. Key: ``cite_id``.
    Emitted in reaction to ``labelling.LabelWithdrawn`` or ``labelling.LabelExpired``.
    """

    cite_id: CiteId
    reason: AllianceClosureReason
    closed_at: UtcDateTime


# The collectivité cheffe de file is not an AllianceRole: widening that enum would break
# PartnerJoinedAlliance v1 (its consumers would refuse the new value); it is designated on
# its own, as the chef de file is, and told by its own event.
@event(
    "partners.CollectiviteCheffeDeFileDesignated",
    topic=PARTNERS_ALLIANCES,
    key="cite_id",
    emitted_when="A commune or an EPCI member of an alliance becomes its collectivité cheffe "
    "de file, replacing the previous one if any.",
)
class CollectiviteCheffeDeFileDesignated(Event):
    """The alliance's collectivité cheffe de file (a commune or an EPCI, at most one) was
    designated: it receives and co-finances, and often employs the chef de projet.

    Producer: partners. Topic: ``partners.alliances``. Key: ``cite_id``.
    Emitted when the préfecture or the national coordination designates a member commune
    or EPCI; ``previous_partner_id`` is the one it replaces (null for the first), which
    stays a member with its roles.
    """

    cite_id: CiteId
    partner_id: UUID
    partner_kind: PartnerKind = Field(description="commune or epci")
    previous_partner_id: UUID | None = None
    designated_at: UtcDateTime


@event(
    "partners.ChefDeProjetAppointed",
    topic=PARTNERS_ALLIANCES,
    key="cite_id",
    emitted_when="A person is appointed chef de projet opérationnel of a cité, from a date; "
    "the previous holder, if any, held the post until the day before.",
)
class ChefDeProjetAppointed(Event):
    """The cité's chef de projet opérationnel (CPO) post has a new holder from ``starts_on``.

    Producer: partners. Topic: ``partners.alliances``. Key: ``cite_id``.
    Emitted when the préfecture or the national coordination appoints a consenting contact,
    employed by a member of the alliance. The person is named by ``contact_id`` only (their
    card, if any, is on ``partners.contacts``); ``previous_contact_id`` held the post until
    the day before ``starts_on``.
    """

    cite_id: CiteId
    contact_id: UUID
    employer_partner_id: UUID
    starts_on: date = Field(description="The first day the post is held (business date)")
    previous_contact_id: UUID | None = Field(
        default=None, description="Who held the post until the day before starts_on, if anyone")
    appointed_at: UtcDateTime


@event(
    "partners.ChefDeProjetPostVacated",
    topic=PARTNERS_ALLIANCES,
    key="cite_id",
    emitted_when="The chef de projet opérationnel's tenure ends without a successor: the "
    "post is vacant from the day after.",
)
class ChefDeProjetPostVacated(Event):
    """The cité's chef de projet opérationnel left the post, which is vacant from the day
    after ``ends_on``.

    Producer: partners. Topic: ``partners.alliances``. Key: ``cite_id``.
    Emitted when the préfecture or the national coordination ends the current holder's
    tenure (a successor's appointment says it in ``ChefDeProjetAppointed`` instead).
    """

    cite_id: CiteId
    contact_id: UUID
    ends_on: date = Field(description="The last day the post was held (business date)")
    motive: Motive | None = Field(default=None, description="Why (no personal data)")
    vacated_at: UtcDateTime
