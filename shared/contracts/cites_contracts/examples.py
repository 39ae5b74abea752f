"""One hand-written example of every public event, for the AsyncAPI document.

Outside teams learn the events from the AsyncAPI document; a schema alone does not show
what a real payload looks like, so each (type, version) of ``registry.catalogue()`` has one
example here: :data:`EXAMPLES` maps it to the JSON of the event's ``data``,
:func:`example` returns a fresh copy of it and :func:`example_envelope` the whole envelope
(the Kafka record value) around it. The tests (``tests/test_examples.py``) check that
every event has exactly one example, that each validates against its model and is exactly
what the model puts on the wire (``model_dump(mode="json")``), and that each envelope
decodes; a new event or version therefore needs its example here.

The examples tell one story, with identifiers that pass every validator of
:mod:`cites_contracts.types` (UAI check letters, Luhn-valid SIREN and SIRET, QPV codes of
the 2024 list in the retired versions, of the 2015 list — the one the 2019 wave's
perimeters refer to — in the current ones): the cité éducative of Vaulx-en-Velin (Rhône),
``cite-042``, labelled in the 2019 wave with the Collège Aimé Césaire as collège chef de
file; its candidature and review, its convention, its dotation of 350 000 € for 2020 from
the programme 147 envelope, its fonds de la cité (15 000 € from P147 + 15 000 € from
P230), an action of a local association paid half in advance, a suspension with its
freeze and a refused allocation, its reinstatement, the extension of its perimeter in the
2022 wave, its renewal for 2022–2025 and finally the expiry of its label and the closing
of its alliance. Two candidatures of other territories show a rejection and a withdrawal,
and ``labelling.LabelWithdrawn`` shows the other way a cité can end (an alternative to
its expiry, with the same place in the label's sequence).

Everything is fixed (no randomness, no clock): the output is the same on every run, so
the generated document only changes when an example does.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, TypeAlias
from uuid import UUID, uuid5

from .envelope import EventSpec

__all__ = ["EXAMPLES", "example", "example_envelope"]

EventKey: TypeAlias = tuple[str, int]
"""An event's (type, version)."""

Payload: TypeAlias = dict[str, Any]
"""A JSON object: plain JSON types only."""


# --- The story's identifiers --------------------------------------------------------------

_CITE_ID: Final = "cite-042"
"""The cité éducative of Vaulx-en-Velin."""

_CANDIDATURE_VAULX: Final = "8d87c277-e359-42c3-9323-90f22ae3d336"
_CANDIDATURE_REJECTED: Final = "3bffd3b8-fbe6-4d40-b920-ceb55d65356a"
"""A candidature of another territory of the 2019 wave, not selected."""
_CANDIDATURE_WITHDRAWN: Final = "8688a04e-041e-4272-a469-c9d75724476a"
"""A candidature of another territory of the 2019 wave, withdrawn by its troïka."""

_TROIKA_PREFET: Final = "5f0b6c2e-8a47-4f0e-9d5b-1c2a3e4f5a61"
_TROIKA_RECTEUR: Final = "6a1c7d3f-9b58-4a1f-8e6c-2d3b4f5a6b72"
_TROIKA_MAIRE: Final = "7b2d8e4a-ac69-4b2a-9f7d-3e4c5a6b7c83"
"""The troïka's cards on labelling.contacts (the candidature names them by these ids)."""

_DEPARTEMENT: Final = "69"  # Rhône
_INSEE_VAULX: Final = "69256"
_SIREN_VAULX: Final = "216902569"  # a commune's SIREN: 21 + INSEE code + Luhn key

_UAI_AIME_CESAIRE: Final = "0693874L"  # the collège chef de file
_UAI_HENRI_BARBUSSE: Final = "0691664J"
_UAI_JEAN_VILAR_ELEMENTAIRE: Final = "0693520B"
_UAI_JEAN_VILAR_MATERNELLE: Final = "0690131T"
_UAI_MARTIN_LUTHER_KING: Final = "0694152N"  # added by the 2022 extension

_SIRET_PASSERELLES: Final = "84213756400014"  # the association operating an action

_PARTNER_AIME_CESAIRE: Final = "bf19cc02-7ddf-4f0c-89e4-aa04808ab87b"
_PARTNER_COMMUNE: Final = "8bf0238f-6d72-4067-9324-eeab2f99054f"
_PARTNER_PASSERELLES: Final = "f81a913d-356e-4981-a8ce-81e0bf2fb859"

_CONTACT_AIME_CESAIRE: Final = "8c215b70-4fd4-4f93-9ce4-2657940e563a"
_CONTACT_COMMUNE: Final = "d2bee2cf-f7c1-4174-8f08-46a1e24ba021"
_CONTACT_PASSERELLES_ACCUEIL: Final = "e4d09b1d-f922-4047-b96d-9382069ca12b"
_CONTACT_PASSERELLES_DURAND: Final = "ca538a1f-27a4-4aff-b717-a0cac8905c6f"

_ENVELOPE_P147_2019: Final = "949f8acc-2984-4c27-91d2-ba70c6a7686c"
_ALLOCATION_2020: Final = "7c4d5faf-5ac0-42bc-a13e-9c7f14651fcb"
_ALLOCATION_2019: Final = "0b1e7f52-3c2a-4d8e-9f61-5a7d2c4e8b90"
_FONDS_GRANT_2020: Final = "81b7d475-0a2c-402a-b462-79906de55b45"
_FONDS_USE_2020: Final = "c3a5e0f2-6b1d-4e8a-9f27-5d4c8b1a7e63"
"""A use of the 2020 fonds by the collège Aimé Césaire: a school trip's coach."""
_COMMITMENT_ACCOMPAGNEMENT: Final = "30dbefcc-b1be-4705-b29c-71f37816e399"
_PAYMENT_ADVANCE: Final = "73d2b433-eaf1-43a5-90bf-21e489385c38"
_COMMITMENT_CANCELLED: Final = "0e6f3b8a-51d2-4c47-9f0e-6a2b7c9d1e34"
_COFINANCING_2020: Final = "5a7c2e19-3b84-4d6f-a0c1-8e9d2f4b6a73"
_RECOVERY_UNSPENT: Final = "b3f1c6d2-8e4a-4a57-9c0d-2f6e1a9b7c58"
_REVIEW_2020: Final = "5c7e2a41-9b3d-4f6e-8a12-d4c0b7e19f63"
_RECEIPT_UNSPENT: Final = "4e8a2d71-6c3b-4f09-8a5e-d17b9c2f0e46"

_NOTIFICATION_SENT: Final = "f6e3c48f-34fe-4d41-8725-37d7ac7ce567"
_NOTIFICATION_FAILED: Final = "794b39e6-6adc-444d-b769-231ec38909b0"

_EVENT_IDS: Final = UUID("a96f8464-911d-4134-8b1f-a31ebc859a8b")
"""Namespace of the examples' event ids: ``uuid5(_EVENT_IDS, "<type>.v<version>")``."""


def _event_id(key: EventKey) -> UUID:
    """The fixed ``event_id`` of the example envelope of ``key``."""
    type_, version = key
    return uuid5(_EVENT_IDS, f"{type_}.v{version}")


# --- Shared parts (functions, so that no two examples share a nested object) ---------------


def _wave_2019() -> Payload:
    return {"id": "2019", "year": 2019, "title": "Vague 2019 : 80 premières cités éducatives",
            "test": False}


def _communes() -> list[Payload]:
    return [{"insee_code": _INSEE_VAULX, "name": "Vaulx-en-Velin"}]


def _qpv_grande_ile() -> Payload:
    return {"code": "QN06901M", "name": "Grande Île", "population": 27350}


def _qpv_pre_de_l_herpe() -> Payload:
    return {"code": "QN06902M", "name": "Le Pré de l'Herpe", "population": 1610}


def _schools_2019() -> list[Payload]:
    return [
        {
            "uai": _UAI_AIME_CESAIRE,
            "kind": "college",
            "name": "Collège Aimé Césaire",
            "education_priority": "rep_plus",
        },
        {
            "uai": _UAI_HENRI_BARBUSSE,
            "kind": "college",
            "name": "Collège Henri Barbusse",
            "education_priority": "rep_plus",
        },
        {
            "uai": _UAI_JEAN_VILAR_ELEMENTAIRE,
            "kind": "ecole",
            "name": "École élémentaire Jean Vilar",
            "education_priority": "rep_plus",
        },
        {
            "uai": _UAI_JEAN_VILAR_MATERNELLE,
            "kind": "ecole",
            "name": "École maternelle Jean Vilar",
            "education_priority": "rep_plus",
        },
    ]


def _school_martin_luther_king() -> Payload:
    return {
        "uai": _UAI_MARTIN_LUTHER_KING,
        "kind": "ecole",
        "name": "École élémentaire Martin Luther King",
        "education_priority": "rep",
    }


_QPV_2015: Final = {"QN06901M": "QP069033", "QN06902M": "QP069034"}
"""The 2015-list codes the current versions give the story's QPVs."""


def _on_2015_list(payload: Payload) -> Payload:
    """``payload`` of a retired version as the current version writes it: its perimeter
    (and what an extension adds) on the 2015 QPV list, saying so."""
    out = copy.deepcopy(payload)
    for part in ("perimeter", "added"):
        for qpv in out.get(part, {}).get("qpvs", []):
            qpv["code"] = _QPV_2015[qpv["code"]]
    if "perimeter" in out:
        out["perimeter"]["qpv_list"] = "2015"
    return out


def _newer(pairs: list[tuple[EventKey, Payload]], newer: dict[EventKey, int]
           ) -> list[tuple[EventKey, Payload]]:
    """``pairs`` and, for each (type, version) of ``newer``, the example of that newer
    version: the same story on the 2015 QPV list (with the optional fields it gained)."""
    found = dict(pairs)
    return [*pairs, *(((key[0], version), _on_2015_list(found[key])
                       | _GAINED.get((key[0], version), {}))
                      for key, version in newer.items())]


_GAINED: Final[dict[EventKey, Payload]] = {
    ("labelling.CandidatureSubmitted", 3): {"filed_on": "2019-06-14"},
    ("labelling.TerritoryLabelled", 2): {"reference": None}}
"""Optional fields a version gained after its example was first written."""


def _perimeter_2019() -> Payload:
    return {"communes": _communes(), "qpvs": [_qpv_grande_ile()], "schools": _schools_2019()}


def _first_period() -> Payload:
    """Three years from the decision of 5 September 2019 (as labelling computes it)."""
    return {"start": "2019-09-05", "end": "2022-09-04"}


def _renewed_period() -> Payload:
    return {"start": "2022-09-05", "end": "2025-09-04"}


# --- The examples -------------------------------------------------------------------------


def _unique(pairs: Iterable[tuple[EventKey, Payload]]) -> dict[EventKey, Payload]:
    """The pairs as a dict; two examples of one event are a mistake, not an override."""
    examples: dict[EventKey, Payload] = {}
    for key, payload in pairs:
        if key in examples:
            raise ValueError(f"two examples of {key[0]} v{key[1]}")
        examples[key] = payload
    return examples


EXAMPLES: dict[EventKey, Payload] = _unique(_newer(
    [
        # --- labelling.candidatures ---------------------------------------------------------
        (
            ("labelling.CandidatureSubmitted", 1),
            {
                "candidature_id": _CANDIDATURE_VAULX,
                "territory_name": "Vaulx-en-Velin",
                "departement": _DEPARTEMENT,
                "wave": _wave_2019(),
                "perimeter": _perimeter_2019(),
                "lead_college_uai": _UAI_AIME_CESAIRE,
                "troika": [
                    {"role": "prefet", "email": "prefet@rhone.gouv.fr"},
                    {"role": "recteur", "email": "ce.recteur@ac-lyon.fr"},
                    {"role": "maire", "email": "cabinet@mairie-vaulxenvelin.fr"},
                ],
                "submitted_by": "prefecture",
                "submitted_at": "2019-06-14T09:42:00Z",
                "requested_annual_contribution": 35_000_000,
            },
        ),
        (
            ("labelling.CandidatureSubmitted", 2),
            {
                "candidature_id": _CANDIDATURE_VAULX,
                "territory_name": "Vaulx-en-Velin",
                "departement": _DEPARTEMENT,
                "wave": _wave_2019(),
                "perimeter": _perimeter_2019(),
                "lead_college_uai": _UAI_AIME_CESAIRE,
                "troika": [
                    {"role": "prefet", "contact_id": _TROIKA_PREFET},
                    {"role": "recteur", "contact_id": _TROIKA_RECTEUR},
                    {"role": "maire", "contact_id": _TROIKA_MAIRE},
                ],
                "submitted_by": "prefecture",
                "submitted_at": "2019-06-14T09:42:00Z",
                "requested_annual_contribution": 35_000_000,
            },
        ),
        # --- labelling.contacts (compacted): one card per troïka signatory ------------------
        (
            ("labelling.TroikaContactPublished", 1),
            {
                "contact_id": _TROIKA_PREFET,
                "candidature_id": _CANDIDATURE_VAULX,
                "role": "prefet",
                "email": "prefet@rhone.gouv.fr",
                "published_at": "2019-06-14T09:42:00Z",
            },
        ),
        (
            ("labelling.CandidatureReviewStarted", 1),
            {
                "candidature_id": _CANDIDATURE_VAULX,
                "wave": _wave_2019(),
                "review_criteria": [
                    "diagnostic_quality",
                    "steering_strength",
                    "indicator_precision",
                ],
                "started_by": "national_coordination",
                "started_at": "2019-07-09T08:15:00Z",
            },
        ),
        (
            ("labelling.CandidatureWithdrawn", 1),
            {
                "candidature_id": _CANDIDATURE_WITHDRAWN,
                "motive": "La commune et la Métropole de Lyon déposeront une candidature "
                "commune, élargie aux quartiers voisins, lors d'une prochaine vague.",
                "withdrawn_by": "prefecture",
                "withdrawn_at": "2019-07-19T15:20:00Z",
            },
        ),
        (
            ("labelling.CandidatureRejected", 1),
            {
                "candidature_id": _CANDIDATURE_REJECTED,
                "wave": _wave_2019(),
                "motive": "Diagnostic trop peu étayé et indicateurs de suivi sans valeur de "
                "référence ni cible : la candidature n'est pas retenue pour la vague 2019.",
                "unmet_criteria": ["diagnostic_quality", "indicator_precision"],
                "decided_by": "national_coordination",
                "decided_at": "2019-09-05T09:58:00Z",
                "decided_on": "2019-09-05",
            },
        ),
        # --- labelling.labels ---------------------------------------------------------------
        (
            ("labelling.TerritoryLabelled", 1),
            {
                "cite_id": _CITE_ID,
                "candidature_id": _CANDIDATURE_VAULX,
                "name": "Cité éducative de Vaulx-en-Velin",
                "wave": _wave_2019(),
                "departement": _DEPARTEMENT,
                "perimeter": _perimeter_2019(),
                "lead_college_uai": _UAI_AIME_CESAIRE,
                "label_period": _first_period(),
                "convention_signed_on": None,
                "decided_by": "national_coordination",
                "labelled_at": "2019-09-05T10:00:00Z",
                "decided_on": "2019-09-05",
                "requested_annual_contribution": 35_000_000,
            },
        ),
        (
            ("labelling.ConventionSigned", 1),
            {
                "cite_id": _CITE_ID,
                "label_period": _first_period(),
                "signed_on": "2019-12-06",
                "recorded_by": "prefecture",
                "recorded_at": "2019-12-09T15:45:00Z",
                "signatories": [
                    {"party": "prefet", "institution": "Préfecture du Rhône"},
                    {"party": "recteur", "institution": "Académie de Lyon"},
                    {"party": "collectivite", "institution": "Ville de Vaulx-en-Velin"},
                    {"party": "other", "institution": "Caisse d'allocations familiales du Rhône"},
                ],
            },
        ),
        (
            ("labelling.ConventionAmended", 1),
            {
                "cite_id": _CITE_ID,
                "label_period": _first_period(),
                "number": 1,
                "signed_on": "2021-02-15",
                "object": "Avenant n° 1 : actions de continuité éducative adaptées à la crise "
                          "sanitaire, calendrier du comité de pilotage",
                "recorded_by": "prefecture",
                "recorded_at": "2021-02-16T10:00:00Z",
            },
        ),
        (
            ("labelling.LabelSuspended", 1),
            {
                "cite_id": _CITE_ID,
                "motive": "Revue de projet 2020 non transmise malgré deux relances et poste "
                "de chef de projet opérationnel vacant depuis novembre 2020.",
                "decided_by": "national_coordination",
                "suspended_at": "2021-03-02T14:00:00Z",
                "effective_on": "2021-03-01",
                "review_id": None,
            },
        ),
        (
            ("labelling.LabelReinstated", 1),
            {
                "cite_id": _CITE_ID,
                "motive": "Revue de projet 2020 reçue le 30 avril 2021 ; la commune a recruté "
                "un nouveau chef de projet opérationnel.",
                "decided_by": "national_coordination",
                "reinstated_at": "2021-05-18T10:00:00Z",
                "effective_on": "2021-05-18",
            },
        ),
        (
            ("labelling.PerimeterExtended", 1),
            {
                "cite_id": _CITE_ID,
                "added": {
                    "communes": [],
                    "qpvs": [_qpv_pre_de_l_herpe()],
                    "schools": [_school_martin_luther_king()],
                },
                "perimeter": {
                    "communes": _communes(),
                    "qpvs": [_qpv_grande_ile(), _qpv_pre_de_l_herpe()],
                    "schools": [*_schools_2019(), _school_martin_luther_king()],
                },
                "decided_by": "national_coordination",
                "extended_at": "2022-01-27T10:00:00Z",
                "decided_on": "2022-01-27",
            },
        ),
        (
            ("labelling.RenewalApplied", 1),
            {
                "cite_id": _CITE_ID,
                "label_period": _first_period(),
                "filed_on": "2022-03-14",
                "filed_by": "prefecture",
                "applied_at": "2022-03-14T15:20:00Z",
            },
        ),
        (
            # The other way the re-application could have ended (instead of the renewal).
            ("labelling.RenewalRefused", 1),
            {
                "cite_id": _CITE_ID,
                "label_period": _first_period(),
                "motive": "Revue de projet 2021 non transmise ; gouvernance à reconstruire.",
                "decided_on": "2022-07-05",
                "decided_by": "national_coordination",
                "refused_at": "2022-07-05T13:00:00Z",
                "review_id": None,
            },
        ),
        (
            ("labelling.LabelRenewed", 1),
            {
                "cite_id": _CITE_ID,
                "previous_period": _first_period(),
                "label_period": _renewed_period(),
                "convention_signed_on": "2022-07-01",
                "decided_by": "national_coordination",
                "renewed_at": "2022-07-05T13:00:00Z",
                "decided_on": "2022-07-05",
                "perimeter": None,  # renewed on the same perimeter
                "review_id": None,
            },
        ),
        (
            ("labelling.LabelExpired", 1),
            {
                "cite_id": _CITE_ID,
                "label_period": _renewed_period(),
                "expired_at": "2025-09-05T02:00:00Z",
            },
        ),
        (
            # The other way the cité could have ended (instead of the expiry above).
            ("labelling.LabelWithdrawn", 1),
            {
                "cite_id": _CITE_ID,
                "motive": "Engagements de la convention triennale non tenus : aucun comité de "
                "pilotage réuni depuis janvier 2024 et revue de projet 2023 non transmise.",
                "effective_on": "2024-06-28",
                "decided_by": "national_coordination",
                "withdrawn_at": "2024-06-28T09:00:00Z",
                "review_id": None,
            },
        ),
        # --- labelling.reviews, cite-042's revue de projet of 2020 ------------------------
        (
            ("labelling.ProjectReviewOpened", 1),
            {
                "review_id": _REVIEW_2020,
                "cite_id": _CITE_ID,
                "departement": _DEPARTEMENT,
                "year": 2020,
                "due_on": "2021-03-31",
                "opened_by": "national_coordination",
                "opened_at": "2021-01-11T09:00:00Z",
            },
        ),
        (
            ("labelling.ProjectReviewValidated", 1),
            {
                "review_id": _REVIEW_2020,
                "cite_id": _CITE_ID,
                "year": 2020,
                "validations": [{"role": "prefet", "validated_on": "2021-03-08"},
                                {"role": "recteur", "validated_on": "2021-03-09"},
                                {"role": "maire", "validated_on": "2021-03-10"}],
                "recorded_by": "prefecture",
                "validated_at": "2021-03-10T16:00:00Z",
            },
        ),
        (
            ("labelling.ProjectReviewSubmitted", 1),
            {
                "review_id": _REVIEW_2020,
                "cite_id": _CITE_ID,
                "departement": _DEPARTEMENT,
                "year": 2020,
                "due_on": "2021-03-31",
                "submitted_on": "2021-03-12",
                "late": False,
                "actions": [
                    {"title": "Accompagnement à la scolarité", "objective": "school_role",
                     "age_group": "11-15", "theme": "school_success", "cost": 4_500_000},
                    {"title": "Café des parents", "objective": "educational_continuity",
                     "age_group": "0-25", "theme": "parenthood", "cost": 1_200_000},
                ],
                "money": {"allocated": 32_000_000, "fonds": 3_000_000,
                          "committed": 5_450_000, "paid": 3_250_000,
                          "ordered_back": 350_000, "cofinancing": 34_000_000},
                "commune_contribution": 34_000_000,
                "indicators": [
                    {"code": "absenteisme-college", "label": "Taux d'absentéisme au collège",
                     "value": "7.4", "unit": "%"},
                    {"code": "enfants-accompagnes", "label": "Enfants accompagnés",
                     "value": "412", "unit": "enfants"},
                ],
                "submitted_by": "prefecture",
                "submitted_at": "2021-03-12T10:30:00Z",
            },
        ),
        (
            # The other way the review could have gone (instead of its submission above).
            ("labelling.ProjectReviewOverdue", 1),
            {
                "review_id": _REVIEW_2020,
                "cite_id": _CITE_ID,
                "departement": _DEPARTEMENT,
                "year": 2020,
                "due_on": "2021-03-31",
                "noted_at": "2021-04-01T02:00:00Z",
            },
        ),
        # --- partners.registry --------------------------------------------------------------
        (
            ("partners.PartnerRegistered", 1),
            {
                "partner_id": _PARTNER_COMMUNE,
                "kind": "commune",
                "name": "Ville de Vaulx-en-Velin",
                "departement": _DEPARTEMENT,
                "uai": None,
                "siret": None,
                "siren": _SIREN_VAULX,
                "insee_code": _INSEE_VAULX,
                "commune_insee_code": _INSEE_VAULX,
                "contacts": [
                    {
                        "contact_id": _CONTACT_COMMUNE,
                        "email": "cite.educative@mairie-vaulxenvelin.fr",
                    }
                ],
                "registered_at": "2019-09-20T08:40:00Z",
            },
        ),
        (
            ("partners.PartnerUpdated", 1),
            {
                "partner_id": _PARTNER_PASSERELLES,
                "kind": "association",
                "name": "Passerelles Éducatives Vaulx",
                "departement": _DEPARTEMENT,
                "uai": None,
                "siret": _SIRET_PASSERELLES,
                "siren": None,
                "insee_code": None,
                "commune_insee_code": _INSEE_VAULX,
                "contacts": [
                    {
                        "contact_id": _CONTACT_PASSERELLES_ACCUEIL,
                        "email": "accueil@passerelles-vaulx.fr",
                    },
                    {
                        "contact_id": _CONTACT_PASSERELLES_DURAND,
                        "email": "c.durand@passerelles-vaulx.fr",
                    },
                ],
                "updated_at": "2020-05-12T13:10:00Z",
            },
        ),
        (
            ("partners.PartnerRegistered", 2),
            {
                "partner_id": _PARTNER_COMMUNE,
                "kind": "commune",
                "name": "Ville de Vaulx-en-Velin",
                "departement": _DEPARTEMENT,
                "uai": None,
                "siret": None,
                "siren": _SIREN_VAULX,
                "insee_code": _INSEE_VAULX,
                "commune_insee_code": _INSEE_VAULX,
                "contact_ids": [_CONTACT_COMMUNE],
                "registered_at": "2019-09-20T08:40:00Z",
            },
        ),
        (
            ("partners.PartnerUpdated", 2),
            {
                "partner_id": _PARTNER_PASSERELLES,
                "kind": "association",
                "name": "Passerelles Éducatives Vaulx",
                "departement": _DEPARTEMENT,
                "uai": None,
                "siret": _SIRET_PASSERELLES,
                "siren": None,
                "insee_code": None,
                "commune_insee_code": _INSEE_VAULX,
                "contact_ids": [_CONTACT_PASSERELLES_ACCUEIL, _CONTACT_PASSERELLES_DURAND],
                "updated_at": "2020-05-12T13:10:00Z",
            },
        ),
        # --- partners.contacts (compacted): one card per consenting contact -----------------
        (
            ("partners.ContactCardPublished", 1),
            {
                "contact_id": _CONTACT_PASSERELLES_DURAND,
                "partner_id": _PARTNER_PASSERELLES,
                "email": "c.durand@passerelles-vaulx.fr",
                "published_at": "2020-05-12T13:10:00Z",
            },
        ),
        (
            ("partners.ContactErased", 1),
            {
                "partner_id": _PARTNER_PASSERELLES,
                "contact_id": _CONTACT_PASSERELLES_DURAND,
                "erased_at": "2022-11-03T09:30:00Z",
            },
        ),
        # --- partners.alliances -------------------------------------------------------------
        (
            ("partners.AllianceOpened", 1),
            {
                "cite_id": _CITE_ID,
                "chef_de_file_partner_id": _PARTNER_AIME_CESAIRE,
                "chef_de_file_uai": _UAI_AIME_CESAIRE,
                "opened_at": "2019-09-05T10:00:02Z",
            },
        ),
        (
            ("partners.ChefDeFileDesignated", 1),
            {
                "cite_id": _CITE_ID,
                "partner_id": _PARTNER_AIME_CESAIRE,
                "uai": _UAI_AIME_CESAIRE,
                "previous_partner_id": None,
                "designated_at": "2019-09-05T10:00:02Z",
            },
        ),
        (
            ("partners.PartnerJoinedAlliance", 1),
            {
                "cite_id": _CITE_ID,
                "partner_id": _PARTNER_COMMUNE,
                "partner_kind": "commune",
                "roles": ["coordinator", "steering_committee", "funder"],
                "joined_at": "2019-10-01T09:00:00Z",
            },
        ),
        (
            ("partners.CollectiviteCheffeDeFileDesignated", 1),
            {
                "cite_id": _CITE_ID,
                "partner_id": _PARTNER_COMMUNE,
                "partner_kind": "commune",
                "previous_partner_id": None,
                "designated_at": "2019-10-01T09:05:00Z",
            },
        ),
        (
            ("partners.ChefDeProjetAppointed", 1),
            {
                "cite_id": _CITE_ID,
                "contact_id": _CONTACT_COMMUNE,  # the commune's chef de projet, consenting
                "employer_partner_id": _PARTNER_COMMUNE,
                "starts_on": "2019-11-04",
                "previous_contact_id": None,
                "appointed_at": "2019-11-04T08:30:00Z",
            },
        ),
        (
            ("partners.PartnerLeftAlliance", 1),
            {
                "cite_id": _CITE_ID,
                "partner_id": _PARTNER_PASSERELLES,
                "motive": "L'association ne porte plus d'action de la cité éducative depuis "
                "la fin de l'année scolaire 2021-2022.",
                "left_at": "2022-07-08T16:00:00Z",
            },
        ),
        (
            ("partners.ChefDeProjetPostVacated", 1),
            {
                "cite_id": _CITE_ID,
                "contact_id": _CONTACT_COMMUNE,
                "ends_on": "2022-08-31",
                "motive": "Fin du contrat de projet ; recrutement du successeur en cours.",
                "vacated_at": "2022-09-01T09:00:00Z",
            },
        ),
        (
            ("partners.AllianceClosed", 1),
            {
                "cite_id": _CITE_ID,
                "reason": "label_expired",
                "closed_at": "2025-09-05T02:00:03Z",
            },
        ),
        # --- funding.credits ------------------------------------------------------------
        (
            ("funding.CreditsVoted", 1),
            {
                "programme": "P147",
                "year": 2020,
                "ae": 8_000_000_000,  # 80 M€ may be committed in 2020
                "cp": 6_000_000_000,  # 60 M€ may be paid
                "previous_ae": 0,
                "previous_cp": 0,
                "voted_at": "2020-01-06T09:00:00Z",
            },
        ),
        (
            ("funding.CreditsDelegated", 1),
            {
                "programme": "P147",
                "year": 2020,
                "departement": "69",
                "ae": 250_000_000,
                "cp": 200_000_000,
                "total_ae": 250_000_000,
                "total_cp": 200_000_000,
                "delegated_at": "2020-01-15T09:00:00Z",
            },
        ),
        (
            ("funding.BudgetYearClosed", 1),
            {
                "programme": "P147",
                "year": 2020,
                "lapsed_ae": 31_000_000,
                "lapsed_cp": 45_500_000,
                "delegations": [{"departement": "69", "lapsed_ae": 1_000_000,
                                 "lapsed_cp": 500_000}],
                "restes_a_payer": 2_250_000,  # the unpaid half of the accompagnement
                "open_commitments": 1,
                "closed_at": "2021-01-08T17:00:00Z",
            },
        ),
        # --- funding.envelopes --------------------------------------------------------------
        (
            ("funding.EnvelopeOpened", 1),
            {
                "envelope_id": _ENVELOPE_P147_2019,
                "name": "Cités éducatives, vague 2019 : programme 147, 2019-2022",
                "programme": "P147",
                "budget_years": [2019, 2020, 2021, 2022],
                "wave_ids": ["2019"],
                "amount": 10_000_000_000,  # 100 M€ for the 80 cités of 2019 over four years
                "opened_at": "2019-07-15T08:00:00Z",
            },
        ),
        # --- funding.allocations ------------------------------------------------------------
        (
            ("funding.FundsAllocated", 1),
            {
                "cite_id": _CITE_ID,
                "allocation_id": _ALLOCATION_2020,
                "envelope_id": _ENVELOPE_P147_2019,
                "programme": "P147",
                "year": 2020,
                "amount": 35_000_000,  # 350 000 €
                "envelope_remaining": 7_645_000_000,
                "allocated_at": "2020-01-20T10:30:00Z",
                "dotation_rule": "requested_capped",
                "dotation_basis": "requested 350 000,00 € within [120 000,00 €, "
                "650 000,00 €]",
            },
        ),
        (
            ("funding.FondsDeLaCiteGranted", 1),
            {
                "cite_id": _CITE_ID,
                "grant_id": _FONDS_GRANT_2020,
                "year": 2020,
                "lead_college_uai": _UAI_AIME_CESAIRE,
                "contributions": [
                    {"programme": "P147", "amount": 1_500_000},  # 15 000 €
                    {"programme": "P230", "amount": 1_500_000},  # 15 000 €
                ],
                "granted_at": "2020-01-20T10:30:01Z",
                "chef_de_file_partner_id": _PARTNER_AIME_CESAIRE,
            },
        ),
        (
            ("funding.FondsUsed", 1),
            {
                "cite_id": _CITE_ID,
                "use_id": _FONDS_USE_2020,
                "grant_id": _FONDS_GRANT_2020,
                "year": 2020,
                "chef_de_file_partner_id": _PARTNER_AIME_CESAIRE,
                "amount": 125_000,  # 1 250 €
                "drawn": [
                    {"programme": "P147", "amount": 62_500},
                    {"programme": "P230", "amount": 62_500},
                ],
                "left": 2_875_000,  # 28 750 € of the 30 000 €
                "purpose": "Sortie au musée des Confluences pour deux classes de 5e "
                "(transport en car)",
                "payee": "Autocars du Rhône",
                "paid_on": "2020-03-06",
                "recorded_by": "partner",
                "recorded_at": "2020-03-09T16:45:00Z",
            },
        ),
        (
            ("funding.FundsCommitted", 1),
            {
                "cite_id": _CITE_ID,
                "commitment_id": _COMMITMENT_ACCOMPAGNEMENT,
                "allocation_id": _ALLOCATION_2020,
                "operator_partner_id": _PARTNER_PASSERELLES,
                "action_title": "Accompagnement à la scolarité et ateliers parents-enfants",
                "amount": 4_500_000,  # 45 000 €
                "committed_at": "2020-06-30T14:20:00Z",
                # Above 23 000 € to an association: a convention (décret n° 2001-495).
                "legal_act": {"kind": "convention", "reference": "2020-69-CE-014",
                              "signed_on": "2020-06-26"},
                "subsidy_request": "00123456",
                "justification_due": "2021-06-30",
            },
        ),
        (
            ("funding.PaymentMade", 1),
            {
                "cite_id": _CITE_ID,
                "payment_id": _PAYMENT_ADVANCE,
                "commitment_id": _COMMITMENT_ACCOMPAGNEMENT,
                "allocation_id": _ALLOCATION_2020,
                "payee_partner_id": _PARTNER_PASSERELLES,
                "amount": 2_250_000,  # an advance of half the commitment
                "paid_at": "2020-07-21T09:05:00Z",
            },
        ),
        (
            ("funding.PastSpendingImported", 1),
            {
                # The 2019 dotation, spent before the platform, taken over from the
                # programme's records.
                "cite_id": _CITE_ID,
                "allocation_id": _ALLOCATION_2019,
                "programme": "P147",
                "year": 2019,
                "committed": 8_000_000,  # 80 000 €
                "paid": 7_250_000,  # 72 500 €; 7 500 € still to pay
                "from_frozen": 0,
                "reference": "CE-2019-069-01",
                "recorded_at": "2021-09-14T08:00:00Z",
            },
        ),
        (
            ("funding.FundsFrozen", 1),
            {
                "cite_id": _CITE_ID,
                "reason": "label_suspended",
                "frozen": [{"allocation_id": _ALLOCATION_2020, "amount": 2_150_000}],
                "frozen_at": "2021-03-02T14:00:04Z",
            },
        ),
        (
            ("funding.AllocationRefused", 1),
            {
                "cite_id": _CITE_ID,
                "envelope_id": _ENVELOPE_P147_2019,
                "year": 2021,
                "requested": 35_000_000,
                "available": 5_120_000_000,
                "reason": "label_not_active",
                "refused_at": "2021-03-22T10:30:00Z",
                "programme": "P147",
            },
        ),
        (
            ("funding.EnvelopeAmended", 1),
            {
                "envelope_id": _ENVELOPE_P147_2019,
                "previous_amount": 10_000_000_000,
                "amount": 10_400_000_000,
                "motive": "Loi de finances rectificative : 4 M€ de plus pour la vague 2019.",
                "amended_at": "2020-07-01T09:00:00Z",
            },
        ),
        (
            ("funding.FundsUnfrozen", 1),
            {
                "cite_id": _CITE_ID,
                "unfrozen": [{"allocation_id": _ALLOCATION_2020, "amount": 2_150_000}],
                "unfrozen_at": "2021-05-18T10:00:03Z",
            },
        ),
        (
            ("funding.FundsReleased", 1),
            {
                "cite_id": _CITE_ID,
                "released": [{"allocation_id": _ALLOCATION_2020,
                              "envelope_id": _ENVELOPE_P147_2019, "amount": 2_150_000}],
                "motive": "Label expiré sans renouvellement : le reliquat revient à "
                "l'enveloppe de la vague 2019.",
                "released_at": "2025-10-01T10:00:00Z",
            },
        ),
        (
            ("funding.CommitmentCancelled", 1),
            {
                "cite_id": _CITE_ID,
                "commitment_id": _COMMITMENT_CANCELLED,
                "allocation_id": _ALLOCATION_2020,
                "returned": 800_000,
                "motive": "Action annulée : l'intervenant s'est retiré.",
                "cancelled_at": "2020-11-12T15:00:00Z",
            },
        ),
        (
            ("funding.CoFinancingDeclared", 1),
            {
                "cite_id": _CITE_ID,
                "cofinancing_id": _COFINANCING_2020,
                "year": 2020,
                "funder": "Commune de Vaulx-en-Velin",
                "amount": 34_000_000,  # 340 000 €, about as much as the State
                "declared_at": "2020-09-10T11:00:00Z",
                "funder_partner_id": None,
            },
        ),
        (
            ("funding.CoFinancingRealised", 1),
            {
                "cite_id": _CITE_ID,
                "cofinancing_id": _COFINANCING_2020,
                "year": 2020,
                "funder": "Commune de Vaulx-en-Velin",
                "planned": 34_000_000,
                "actual": 31_250_000,  # 312 500 €: an action postponed to 2021
                "realised_at": "2021-06-15T10:00:00Z",
            },
        ),
        (
            ("funding.AllocationRevised", 1),
            {
                "cite_id": _CITE_ID,
                "allocation_id": _ALLOCATION_2020,
                "envelope_id": _ENVELOPE_P147_2019,
                "programme": "P147",
                "year": 2020,
                "previous_amount": 35_000_000,
                "amount": 32_000_000,  # 30 000 € less after the year's review
                "envelope_remaining": 7_648_000_000,
                "motive": "Revue de projet 2020 : actions reportées",
                "revised_at": "2021-02-25T10:00:00Z",
                "review_id": None,
            },
        ),
        (
            ("funding.SubsidyJustified", 1),
            {
                "cite_id": _CITE_ID,
                "commitment_id": _COMMITMENT_ACCOMPAGNEMENT,
                "operator_partner_id": _PARTNER_PASSERELLES,
                "paid": 2_250_000,
                "spent": 1_900_000,
                "unspent": 350_000,  # 3 500 € of the advance not spent
                "submitted_on": "2021-01-20",
                "recorded_at": "2021-01-22T10:00:00Z",
            },
        ),
        (
            ("funding.RecoveryOrdered", 1),
            {
                "cite_id": _CITE_ID,
                "recovery_id": _RECOVERY_UNSPENT,
                "commitment_id": _COMMITMENT_ACCOMPAGNEMENT,
                "payee_partner_id": _PARTNER_PASSERELLES,
                "programme": "P147",
                "amount": 350_000,
                "order_reference": "TP-2021-69-0042",
                "ordered_on": "2021-02-01",
                "motive": "Reliquat non consommé selon le compte rendu financier",
                "ordered_at": "2021-02-01T09:30:00Z",
            },
        ),
        (
            ("funding.RecoveryReceived", 1),
            {
                "cite_id": _CITE_ID,
                "receipt_id": _RECEIPT_UNSPENT,
                "recovery_id": _RECOVERY_UNSPENT,
                "commitment_id": _COMMITMENT_ACCOMPAGNEMENT,
                "payee_partner_id": _PARTNER_PASSERELLES,
                "programme": "P147",
                "amount": 350_000,
                "received_on": "2021-02-19",
                "received_at": "2021-02-20T08:00:00Z",
            },
        ),
        # --- notifications.deliveries -------------------------------------------------------
        (
            ("notifications.NotificationSent", 1),
            {
                "notification_id": _NOTIFICATION_SENT,
                "cause_event_id": str(_event_id(("labelling.TerritoryLabelled", 2))),
                "cause_type": "labelling.TerritoryLabelled",
                "template": "cite-labelled",
                "channel": "email",
                "recipient": {
                    "kind": "troika",
                    "troika_role": "prefet",
                    "partner_id": None,
                    "contact_id": None,
                },
                "candidature_id": _CANDIDATURE_VAULX,
                "cite_id": _CITE_ID,
                "attempts": 1,
                "sent_at": "2019-09-05T10:00:07Z",
            },
        ),
        (
            ("notifications.NotificationFailed", 1),
            {
                "notification_id": _NOTIFICATION_FAILED,
                "cause_event_id": str(_event_id(("funding.FondsDeLaCiteGranted", 1))),
                "cause_type": "funding.FondsDeLaCiteGranted",
                "template": "fonds-de-la-cite-granted",
                "channel": "email",
                "recipient": {
                    "kind": "partner_contact",
                    "troika_role": None,
                    "partner_id": _PARTNER_AIME_CESAIRE,
                    "contact_id": _CONTACT_AIME_CESAIRE,
                },
                "candidature_id": None,
                "cite_id": _CITE_ID,
                "attempts": 5,
                "reason": "Serveur de messagerie du destinataire indisponible après 5 "
                "tentatives (dernière réponse : SMTP 421 4.7.0, service temporairement "
                "indisponible).",
                "failed_at": "2020-01-20T16:31:10Z",
            },
        ),
    ],
    {("labelling.CandidatureSubmitted", 2): 3, ("labelling.TerritoryLabelled", 1): 2,
     ("labelling.PerimeterExtended", 1): 2, ("partners.PartnerRegistered", 2): 3,
     ("partners.PartnerUpdated", 2): 3},
))
"""(type, version) → the example ``data`` of that event, as it travels (JSON types only).

Read-only by convention: use :func:`example` for a copy to change."""


# --- Envelopes ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Occurrence:
    """Where an example event stands in the story: its place in its aggregate's stream
    (topic + key) and the event it reacts to, if any."""

    sequence: int
    cause: EventKey | None = None


_TERRITORY_LABELLED: Final = ("labelling.TerritoryLabelled", 2)

_OCCURRENCES: Final[dict[EventKey, _Occurrence]] = {
    # labelling.candidatures: each candidature is its own stream.
    ("labelling.CandidatureSubmitted", 1): _Occurrence(1),  # retired: v2 replaces it
    ("labelling.CandidatureSubmitted", 2): _Occurrence(1),  # retired: v3 replaces it
    ("labelling.CandidatureSubmitted", 3): _Occurrence(1),
    # labelling.contacts: each signatory's card is its own stream.
    ("labelling.TroikaContactPublished", 1): _Occurrence(1),
    ("labelling.CandidatureReviewStarted", 1): _Occurrence(2),
    ("labelling.CandidatureWithdrawn", 1): _Occurrence(2),  # submitted, then withdrawn
    ("labelling.CandidatureRejected", 1): _Occurrence(3),  # submitted, reviewed, rejected
    # labelling.labels, cite-042.
    ("labelling.TerritoryLabelled", 1): _Occurrence(1),  # retired: v2 replaces it
    _TERRITORY_LABELLED: _Occurrence(1),
    ("labelling.ConventionSigned", 1): _Occurrence(2),
    ("labelling.ConventionAmended", 1): _Occurrence(3),  # the alternative third event
    ("labelling.LabelSuspended", 1): _Occurrence(3),
    ("labelling.LabelReinstated", 1): _Occurrence(4),
    ("labelling.PerimeterExtended", 1): _Occurrence(5),  # retired: v2 replaces it
    ("labelling.PerimeterExtended", 2): _Occurrence(5),
    ("labelling.RenewalApplied", 1): _Occurrence(6),
    ("labelling.LabelRenewed", 1): _Occurrence(7),
    ("labelling.RenewalRefused", 1): _Occurrence(7),  # the alternative to the renewal
    ("labelling.LabelExpired", 1): _Occurrence(8),
    ("labelling.LabelWithdrawn", 1): _Occurrence(8),  # the alternative ending
    # labelling.reviews, cite-042.
    ("labelling.ProjectReviewOpened", 1): _Occurrence(1),
    ("labelling.ProjectReviewValidated", 1): _Occurrence(2),
    ("labelling.ProjectReviewSubmitted", 1): _Occurrence(3),
    ("labelling.ProjectReviewOverdue", 1): _Occurrence(2),  # the alternative: not submitted
    # partners.registry: each partner is its own stream.
    ("partners.PartnerRegistered", 1): _Occurrence(1),
    ("partners.PartnerUpdated", 1): _Occurrence(2),
    ("partners.PartnerRegistered", 2): _Occurrence(1),  # retired v1 → v2, same place
    ("partners.PartnerUpdated", 2): _Occurrence(2),
    ("partners.PartnerRegistered", 3): _Occurrence(1),  # retired v2 → v3, same place
    ("partners.PartnerUpdated", 3): _Occurrence(2),
    # partners.contacts: each contact's card is its own stream.
    ("partners.ContactCardPublished", 1): _Occurrence(1),
    ("partners.ContactErased", 1): _Occurrence(3),
    # partners.alliances, cite-042.
    ("partners.AllianceOpened", 1): _Occurrence(1, _TERRITORY_LABELLED),
    ("partners.ChefDeFileDesignated", 1): _Occurrence(2, _TERRITORY_LABELLED),
    ("partners.PartnerJoinedAlliance", 1): _Occurrence(3),
    ("partners.CollectiviteCheffeDeFileDesignated", 1): _Occurrence(4),
    ("partners.ChefDeProjetAppointed", 1): _Occurrence(5),
    ("partners.PartnerLeftAlliance", 1): _Occurrence(9),
    ("partners.ChefDeProjetPostVacated", 1): _Occurrence(10),
    ("partners.AllianceClosed", 1): _Occurrence(12, ("labelling.LabelExpired", 1)),
    # funding.credits, P147.
    ("funding.CreditsVoted", 1): _Occurrence(1),
    ("funding.CreditsDelegated", 1): _Occurrence(2),
    ("funding.BudgetYearClosed", 1): _Occurrence(3),
    # funding.envelopes.
    ("funding.EnvelopeOpened", 1): _Occurrence(1),
    ("funding.EnvelopeAmended", 1): _Occurrence(2),
    # funding.allocations, cite-042 (after the 2019 fonds, allocation and their spending).
    ("funding.FundsAllocated", 1): _Occurrence(9),
    ("funding.FondsDeLaCiteGranted", 1): _Occurrence(10),
    ("funding.FundsCommitted", 1): _Occurrence(11),
    ("funding.PaymentMade", 1): _Occurrence(12),
    ("funding.FundsFrozen", 1): _Occurrence(19, ("labelling.LabelSuspended", 1)),
    ("funding.AllocationRefused", 1): _Occurrence(20),
    ("funding.CoFinancingDeclared", 1): _Occurrence(13),
    ("funding.CommitmentCancelled", 1): _Occurrence(14),
    ("funding.AllocationRevised", 1): _Occurrence(18),
    ("funding.SubsidyJustified", 1): _Occurrence(15),
    ("funding.RecoveryOrdered", 1): _Occurrence(16),
    ("funding.RecoveryReceived", 1): _Occurrence(17),
    ("funding.FundsUnfrozen", 1): _Occurrence(21, ("labelling.LabelReinstated", 1)),
    ("funding.FondsUsed", 1): _Occurrence(22),
    ("funding.CoFinancingRealised", 1): _Occurrence(24),
    ("funding.PastSpendingImported", 1): _Occurrence(23),
    ("funding.FundsReleased", 1): _Occurrence(30),
    # notifications.deliveries: one event per notification.
    ("notifications.NotificationSent", 1): _Occurrence(1, _TERRITORY_LABELLED),
    ("notifications.NotificationFailed", 1): _Occurrence(1, ("funding.FondsDeLaCiteGranted", 1)),
}


def _key(spec: EventSpec) -> EventKey:
    return (spec.type, spec.version)


def example(spec: EventSpec) -> Payload:
    """A fresh copy of the example ``data`` of ``spec`` (KeyError if it has none)."""
    try:
        payload = EXAMPLES[_key(spec)]
    except KeyError:
        raise KeyError(
            f"no example of {spec.type} v{spec.version}: add one to cites_contracts.examples"
        ) from None
    return copy.deepcopy(payload)


def _occurred_at(key: EventKey, payload: Payload) -> Any:
    """The event's own timestamp, its single top-level ``…_at`` field."""
    stamps = [value for name, value in payload.items() if name.endswith("_at")]
    if len(stamps) != 1:
        raise ValueError(f"{key[0]} v{key[1]}: cannot tell its timestamp among {stamps}")
    return stamps[0]


def _correlation_id(key: EventKey) -> UUID:
    """The event id at the root of the chain of causes (a root correlates with itself)."""
    cause = _OCCURRENCES[key].cause
    return _event_id(key) if cause is None else _correlation_id(cause)


def example_envelope(spec: EventSpec) -> Payload:
    """The JSON of the whole envelope of the example of ``spec``: the Kafka record value.

    Its ``occurred_at`` is the payload's own timestamp; an event reacting to another of
    the story has it as ``causation_id`` and shares its ``correlation_id``.
    """
    key = _key(spec)
    data = example(spec)
    occurrence = _OCCURRENCES[key]
    cause = occurrence.cause
    return {
        "event_id": str(_event_id(key)),
        "type": spec.type,
        "version": spec.version,
        "occurred_at": _occurred_at(key, data),
        "producer": spec.producer,
        "aggregate_id": str(data[spec.key_field]),
        "sequence": occurrence.sequence,
        "correlation_id": str(_correlation_id(key)),
        "causation_id": None if cause is None else str(_event_id(cause)),
        "data": data,
    }
