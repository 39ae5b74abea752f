"""French formatting for the mails: money, dates and times in the territory's time zone,
waves by their title, the formal openings, and the labels of the programme's codes (troïka
roles, budget programmes, alliance roles…).

Hand-written tables rather than Babel: a dozen month names and a few code labels do not
justify a locale database dependency, and the labels of our own codes (``rectorat_dasen``,
``requested_capped``…) are in no locale database anyway.

Spaces follow the French typographic norm (Imprimerie nationale, CLDR ``fr``), and never
break a figure from its unit: a narrow no-break space (U+202F) groups thousands, as
funding's ``euros()`` does (``funding/domain/ledger.py``), and a no-break space (U+00A0)
goes before ``€``, inside guillemets and around the ``h`` of a time. Funding's error
messages use an ordinary space before ``€``; a mail client re-wrapping a line must not
leave ``€`` alone at the start of the next one, hence the difference. Our own text uses
the typographic apostrophe (’); the events' free texts keep whatever they were typed with.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Final
from zoneinfo import ZoneInfo

from cites_contracts.types import (
    AllianceClosureReason,
    AllianceRole,
    BudgetProgramme,
    FreezeReason,
    PartnerKind,
    TroikaRole,
)

__all__ = [
    "NBSP",
    "NNBSP",
    "PARIS",
    "alliance_role",
    "appel",
    "closure_reason",
    "criterion",
    "date_fr",
    "datetime_fr",
    "euros",
    "freeze_reason",
    "guillemets",
    "la_cite",
    "liste",
    "nombre",
    "partner_kind",
    "programme",
    "troika_role",
    "troika_title",
    "vague",
    "zone_name",
]

NNBSP: Final = "\u202f"
"""Narrow no-break space: thousands separator."""
NBSP: Final = "\u00a0"
"""No-break space: before ``€``, inside guillemets, around the ``h`` of a time."""

PARIS: Final = "Europe/Paris"
"""The hexagone's and Corsica's time zone, and that of a mail about no territory."""

_ZONE_NAMES: Final[dict[str, str]] = {
    PARIS: "Paris",
    "America/Guadeloupe": "la Guadeloupe",
    "America/Martinique": "la Martinique",
    "America/Cayenne": "la Guyane",
    "Indian/Reunion": "La Réunion",
    "America/Miquelon": "Saint-Pierre-et-Miquelon",
    "Indian/Mayotte": "Mayotte",
    "America/St_Barthelemy": "Saint-Barthélemy",
    "America/Marigot": "Saint-Martin",
}
"""Each territory's time zone (``cites_contracts.types.time_zone_of``) as « heure de … »
names it; a test holds it to the contract's ``TIME_ZONES``."""

_MONTHS: Final = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
                  "septembre", "octobre", "novembre", "décembre")


def euros(cents: int) -> str:
    """``123456789`` → ``1 234 567,89 €`` (U+202F between thousands, U+00A0 before €)."""
    sign, cents = ("-" if cents < 0 else ""), abs(cents)
    whole = f"{cents // 100:,}".replace(",", NNBSP)
    return f"{sign}{whole},{cents % 100:02d}{NBSP}€"


def _local(moment: datetime, zone: str) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{moment.isoformat()} has no time zone: events carry UTC times")
    return moment.astimezone(ZoneInfo(zone))


def zone_name(zone: str) -> str:
    """``Indian/Reunion`` → ``La Réunion``, as « heure de La Réunion » says it."""
    return _ZONE_NAMES[zone]


def date_fr(day: date, zone: str = PARIS) -> str:
    """``5 septembre 2019``, ``1er janvier 2025``; a datetime shows its day where ``zone``
    is (an IANA name: the territory's)."""
    if isinstance(day, datetime):
        day = _local(day, zone).date()
    number = "1er" if day.day == 1 else str(day.day)
    return f"{number} {_MONTHS[day.month - 1]} {day.year}"


def datetime_fr(moment: datetime, zone: str = PARIS, *, say_zone: bool | None = None) -> str:
    """``2026-12-06T22:27Z`` in ``Indian/Reunion`` → ``7 décembre 2026 à 2 h 27, heure de
    La Réunion``: the day and time where ``zone`` is, summer or not, naming the zone when
    it is not Paris (``say_zone`` decides otherwise: a mail about no territory names
    Paris too)."""
    local = _local(moment, zone)
    shown = f"{date_fr(local.date())} à {local.hour}{NBSP}h{NBSP}{local.minute:02d}"
    if say_zone if say_zone is not None else zone != PARIS:
        return f"{shown}, heure de {zone_name(zone)}"
    return shown


def guillemets(text: str) -> str:
    """``« text »``, with the no-break spaces French puts inside the guillemets."""
    return f"«{NBSP}{text}{NBSP}»"


def liste(items: Iterable[str]) -> str:
    """``a``, ``a et b``, ``a, b et c``."""
    words = list(items)
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} et {words[-1]}"


def nombre(count: int, singular: str, plural: str) -> str:
    """``1 commune``, ``3 communes`` (0 and 1 take the singular in French)."""
    return f"{count}{NBSP}{singular if abs(count) < 2 else plural}"


def la_cite(name: str) -> str:
    """A cité as a sentence names it: ``la Cité éducative de Vaulx-en-Velin`` when its name
    says so, else ``la cité éducative « Grigny »`` (names are labelling's data: often the
    territory's alone, and French elision — de, d’, du — is not worth guessing)."""
    if name.casefold().startswith("cité éducative"):
        return f"la {name}"
    return f"la cité éducative {guillemets(name)}"


def vague(wave: dict[str, object]) -> str:
    """A wave (the event's ``Wave``) as a sentence names it after « au titre de » or
    « pour »: its title, ``« Vague 2019 : 80 premières cités éducatives »``; an event
    written before waves carried a title, ``la vague 2019`` (never its id)."""
    title = wave.get("title")
    return guillemets(str(title)) if title else f"la vague {wave['year']}"


# --- Openings ---------------------------------------------------------------------------------

_TITLES: Final[dict[str, str]] = {
    TroikaRole.PREFET: "le Préfet",
    TroikaRole.RECTEUR: "le Recteur",
    TroikaRole.MAIRE: "le Maire",
    TroikaRole.PRESIDENT_EPCI: "le Président",
}


def troika_title(role: str) -> str:
    """``prefet`` → ``le Préfet``: the title an opening gives a troïka member."""
    return _TITLES[str(role)]


def appel(title: str | None) -> str:
    """The opening (and the closing's apostrophe) of a mail to the holder of an office
    whose name and gender the platform does not know: ``Madame, Monsieur le Préfet``;
    ``Madame, Monsieur`` for no office. The title keeps its capital, as in the appellation
    of an administrative letter."""
    return f"Madame, Monsieur {title}" if title else "Madame, Monsieur"


# --- Labels of the programme's codes ------------------------------------------------------

_TROIKA_ROLES: Final[dict[str, str]] = {
    TroikaRole.PREFET: "préfet",
    TroikaRole.RECTEUR: "recteur",
    TroikaRole.MAIRE: "maire",
    TroikaRole.PRESIDENT_EPCI: "président de l’EPCI",
}

_PROGRAMMES: Final[dict[str, str]] = {
    BudgetProgramme.P147: f"programme 147 {guillemets('Politique de la ville')}",
    BudgetProgramme.P230: f"programme 230 {guillemets('Vie de l’élève')}",
}

_ALLIANCE_ROLES: Final[dict[str, str]] = {
    AllianceRole.CHEF_DE_FILE: "collège chef de file",
    AllianceRole.COORDINATOR: "coordination (chef de projet opérationnel)",
    AllianceRole.STEERING_COMMITTEE: "comité de pilotage",
    AllianceRole.FUNDER: "financeur",
    AllianceRole.ACTION_OPERATOR: "opérateur d’actions",
}

_FREEZE_REASONS: Final[dict[str, str]] = {
    FreezeReason.LABEL_SUSPENDED: "la suspension du label",
    FreezeReason.LABEL_WITHDRAWN: "le retrait du label",
    FreezeReason.LABEL_EXPIRED: "l’expiration du label",
}

_CLOSURE_REASONS: Final[dict[str, str]] = {
    AllianceClosureReason.LABEL_WITHDRAWN: "le retrait du label",
    AllianceClosureReason.LABEL_EXPIRED: "l’expiration du label",
}

# The review criteria are labelling's data (one grid per wave); unknown codes show as is.
_CRITERIA: Final[dict[str, str]] = {
    "diagnostic_quality": "qualité du diagnostic",
    "steering_strength": "solidité du pilotage",
    "indicator_precision": "précision des indicateurs",
    "perimeter": "périmètre",
    "diagnostic": "diagnostic",
    "objectives": "objectifs",
    "governance": "gouvernance",
    "steering": "pilotage",
    "action_plan": "plan d’action",
    "means": "moyens",
    "identity": "identité",
    "quality_approach": "démarche qualité",
}


def _label(table: dict[str, str], code: str) -> str:
    return table[str(code)]


def troika_role(role: str) -> str:
    """``prefet`` → ``préfet``."""
    return _label(_TROIKA_ROLES, role)


def programme(code: str) -> str:
    """``P147`` → ``programme 147 « Politique de la ville »``."""
    return _label(_PROGRAMMES, code)


def alliance_role(role: str) -> str:
    """``steering_committee`` → ``comité de pilotage``."""
    return _label(_ALLIANCE_ROLES, role)


def partner_kind(kind: str) -> str:
    """``rectorat_dasen`` → ``rectorat (DASEN)`` (the contract's label of the kind)."""
    return PartnerKind(kind).label


def freeze_reason(reason: str) -> str:
    """``label_suspended`` → ``la suspension du label``."""
    return _label(_FREEZE_REASONS, reason)


def closure_reason(reason: str) -> str:
    """``label_expired`` → ``l’expiration du label``."""
    return _label(_CLOSURE_REASONS, reason)


def criterion(code: str) -> str:
    """``diagnostic_quality`` → ``qualité du diagnostic``; a code we do not know, as is."""
    return _CRITERIA.get(code, code)
