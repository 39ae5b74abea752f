"""Value types shared by every service: codes, money, time, label period, enums.

Each value type is a pydantic ``Annotated`` type usable in any pydantic model (events,
FastAPI bodies, settings). Invalid input raises a validation error whose ``type`` is a
slug naming the rule (``insee_code``, ``siret_luhn``…) and whose message says what is
expected. Codes are normalised (surrounding spaces dropped, letters upper-cased) before
they are checked, so the wire always carries the canonical form.

In pydantic's strict mode a code is accepted in its canonical form only, checked by the
pattern its JSON Schema publishes, in pydantic-core: no Python runs for it. The codec
decodes a record strictly first (records carry canonical codes), then, should that fail,
as before (lax: normalised, checked in Python, refusals naming the rule).

Each type carries a :class:`ValueType` marker in its metadata; pydantic ignores it, and
:mod:`cites_contracts.testing` uses it to find the Hypothesis strategy of valid values.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, LiteralString, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    GetCoreSchemaHandler,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError, core_schema

__all__ = [
    "DEPARTEMENTS",
    "MAX_CENTS",
    "TIME_ZONES",
    "ActReference",
    "ActorRole",
    "AgeGroup",
    "AllianceClosureReason",
    "AllianceRole",
    "AllocationRefusalReason",
    "BudgetProgramme",
    "Cents",
    "CiteId",
    "CiteReference",
    "ContractModel",
    "ConventionParty",
    "Departement",
    "DossierNumber",
    "DotationRuleKind",
    "EducationPriority",
    "Email",
    "EventTypeName",
    "FreezeReason",
    "IndicatorValue",
    "InseeCode",
    "LabelPeriod",
    "LegalActKind",
    "Motive",
    "Name",
    "NotificationChannel",
    "PartnerKind",
    "Population",
    "ProgrammeYear",
    "QpvCode",
    "QpvList",
    "RecipientKind",
    "RetiredDepartement",
    "RetiredInseeCode",
    "RetiredQpvCode",
    "ReviewObjective",
    "ReviewTheme",
    "SchoolKind",
    "Siren",
    "Siret",
    "Slug",
    "TroikaRole",
    "Uai",
    "UtcDateTime",
    "ValueType",
    "WaveId",
    "departement_of",
    "is_luhn_valid",
    "qpv_departement",
    "qpv_list_of",
    "time_zone_of",
]


@dataclass(frozen=True, slots=True)
class ValueType:
    """Marker naming a value type inside its ``Annotated`` metadata (ignored by pydantic)."""

    name: str


class ContractModel(BaseModel):
    """Base of the nested models of events: immutable, unknown fields ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")


def _error(rule: LiteralString, message: LiteralString, **context: Any) -> PydanticCustomError:
    # PydanticCustomError keeps the rule as the error ``type`` and formats {placeholders}.
    return PydanticCustomError(rule, message, context)


def _text(value: str) -> str:
    return value.strip().upper()


@dataclass(frozen=True, slots=True)
class _Code:
    """How a code is validated: lax (pydantic's default), ``check`` normalises the value and
    names the rule it breaks; strict, only the canonical form passes, matched against
    ``pattern`` in pydantic-core (a refusal is of type ``rule``, with a fixed message).

    ``pattern`` accepts nothing ``check`` would refuse or change (the tests prove it on
    generated inputs), so a value validates the same in either mode or is refused strictly;
    lax validation lets a canonical value through on that match alone (one regex, not
    ``check``'s normalising and tests). ``check`` cannot be a pattern: pydantic-core matches
    before it upper-cases, and strips fewer characters than ``str.strip`` (not
    U+001C–U+001F); and its refusals say why.
    """

    check: Callable[[str], str]
    pattern: str
    rule: LiteralString
    message: LiteralString

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        canonical = core_schema.custom_error_schema(
            core_schema.str_schema(pattern=self.pattern),
            self.rule,
            custom_error_message=self.message,
        )
        is_canonical, check = re.compile(self.pattern).fullmatch, self.check

        def lax(value: str) -> str:
            return value if is_canonical(value) else check(value)

        return core_schema.lax_or_strict_schema(
            lax_schema=core_schema.no_info_after_validator_function(lax, handler(source)),
            strict_schema=core_schema.chain_schema(
                [core_schema.str_schema(strict=True), canonical]
            ),
        )


# --- Territories (départements and Saint-Martin) ------------------------------------------

# 20 is gone since Corsica was split into 2A/2B (1976); 971–976 are the overseas
# départements (975 Saint-Pierre-et-Miquelon, a collectivité keeping its code); 978 is
# Saint-Martin, a collectivité with QPVs (its commune is 97801). Saint-Barthélemy (977)
# has no QPV, so no cité.
DEPARTEMENTS: tuple[str, ...] = (
    *(f"{n:02d}" for n in range(1, 20)),
    "2A",
    "2B",
    *(f"{n:02d}" for n in range(21, 96)),
    *(str(n) for n in range(971, 977)),
    "978",
)
"""Every territory code a cité may be in: the départements and Saint-Martin (978)."""
_DEPARTEMENT_SET = frozenset(DEPARTEMENTS)


def _check_departement(value: str) -> str:
    code = _text(value)
    if code == "20":
        raise _error(
            "departement",
            "département '20' no longer exists: Corsica is '2A' or '2B'",
            value=value,
        )
    if code not in _DEPARTEMENT_SET:
        raise _error(
            "departement",
            "département '{value}' must be 01–95 (without 20), 2A, 2B, 971–976 or 978 "
            "(Saint-Martin)",
            value=value,
        )
    return code


_DEPARTEMENT_PATTERN = r"^(0[1-9]|1[0-9]|2[1-9AB]|[3-8][0-9]|9[0-5]|97[1-68])$"

Departement = Annotated[
    str,
    _Code(
        _check_departement,
        _DEPARTEMENT_PATTERN,
        "departement",
        "a département must be 01–95 (without 20), 2A, 2B, 971–976 or 978 (Saint-Martin)",
    ),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _DEPARTEMENT_PATTERN,
            "description": "Territory code: a département 01–95 (no 20), 2A, 2B, 971–976, "
            "or 978 (Saint-Martin).",
            "examples": ["75", "2A", "976", "978"],
        }
    ),
    ValueType("Departement"),
]


TIME_ZONES: dict[str, str] = {
    "971": "America/Guadeloupe",
    "972": "America/Martinique",
    "973": "America/Cayenne",
    "974": "Indian/Reunion",
    "975": "America/Miquelon",
    "976": "Indian/Mayotte",
    "977": "America/St_Barthelemy",
    "978": "America/Marigot",
}
"""IANA time zone of each overseas territory by its code; every other département (the
hexagone and Corsica) is on ``Europe/Paris``."""


def time_zone_of(departement: str) -> str:
    """The IANA time zone where ``departement``'s people read a local date or time:
    ``974`` → ``Indian/Reunion``, ``69`` → ``Europe/Paris``."""
    return TIME_ZONES.get(departement, "Europe/Paris")


# --- INSEE commune code -------------------------------------------------------------------


def departement_of(insee_code: str) -> str:
    """The territory of a (valid) INSEE commune code: 3 characters overseas, else 2."""
    return insee_code[:3] if insee_code.startswith("97") else insee_code[:2]


def _check_insee(value: str) -> str:
    code = _text(value)
    if len(code) != 5:
        raise _error(
            "insee_code",
            "INSEE commune code '{value}' must have 5 characters, not {length}",
            value=value,
            length=len(code),
        )
    if code.startswith("20"):
        raise _error(
            "insee_code",
            "INSEE code '{value}': Corsican communes start with 2A or 2B, not 20",
            value=value,
        )
    dept = departement_of(code)
    rest = code[len(dept) :]
    if dept not in _DEPARTEMENT_SET or not rest.isdigit() or not rest.isascii():
        raise _error(
            "insee_code",
            "INSEE commune code '{value}' must be a département (01–95, 2A, 2B, 971–976) or "
            "Saint-Martin (978) followed by the commune number, e.g. 75056, 2A004, 97611, "
            "97801",
            value=value,
        )
    return code


_INSEE_PATTERN = r"^((0[1-9]|1[0-9]|2[1-9AB]|[3-8][0-9]|9[0-5])[0-9]{3}|97[1-68][0-9]{2})$"

InseeCode = Annotated[
    str,
    _Code(
        _check_insee,
        _INSEE_PATTERN,
        "insee_code",
        "an INSEE commune code must be a département (01–95, 2A, 2B, 971–976) or "
        "Saint-Martin (978) followed by the commune number, 5 characters, e.g. 75056, "
        "2A004, 97611, 97801",
    ),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _INSEE_PATTERN,
            "description": "INSEE commune code (COG): territory + commune number.",
            "examples": ["75056", "2A004", "97611", "97801"],
        }
    ),
    ValueType("InseeCode"),
]


# --- QPV code (2015 and 2024 lists) -------------------------------------------------------


class QpvList(StrEnum):
    """The list of priority neighbourhoods (QPV) a perimeter refers to: the 2015 list
    (decrees of 30 December 2014, codes ``QP…``), in force for the 2019–2023 perimeters
    (overseas until the end of 2024), or the 2024 list (codes ``QN…``)."""

    LIST_2015 = "2015"
    LIST_2024 = "2024"


_QPV_2015 = re.compile(r"QP(?P<dept>[0-9]{3}|02[AB])[0-9]{3}")
_QPV_2024 = re.compile(r"QN(?P<dept>[0-9]{3}|02[AB])[0-9]{2}[A-Z]")


def _qpv_departement(dept3: str) -> str:
    # Both lists pad metropolitan départements to 3 characters: 075, 02A.
    return dept3[1:] if dept3.startswith("0") else dept3


def qpv_departement(code: str) -> str:
    """The territory of a (valid) QPV code of either list: ``QN07501M`` → ``75``,
    ``QP069033`` → ``69``, ``QN97601B`` → ``976``."""
    return _qpv_departement(code[2:5])


def qpv_list_of(code: str) -> QpvList:
    """The list a (valid) QPV code belongs to: ``QP…`` 2015, ``QN…`` 2024."""
    return QpvList.LIST_2015 if code.startswith("QP") else QpvList.LIST_2024


def _check_qpv(value: str) -> str:
    code = _text(value)
    if code.startswith("QP"):
        match = _QPV_2015.fullmatch(code)
        if match is None or _qpv_departement(match["dept"]) not in _DEPARTEMENT_SET:
            raise _error(
                "qpv_code",
                "QPV code '{value}' of the 2015 list must be QP + 3-character territory "
                "(075, 02A, 976) + 3-digit order, e.g. QP075001",
                value=value,
            )
        return code
    match = _QPV_2024.fullmatch(code)
    if match is None or _qpv_departement(match["dept"]) not in _DEPARTEMENT_SET:
        if code.startswith("QN"):
            raise _error(
                "qpv_code",
                "QPV code '{value}' of the 2024 list must be QN + 3-character territory "
                "(075, 02A, 976) + 2-digit order + a letter, e.g. QN07501M",
                value=value,
            )
        raise _error(
            "qpv_code",
            "QPV code '{value}' must be of the 2015 list (QP + 3-character territory + "
            "3-digit order, e.g. QP075001) or of the 2024 list (QN + 3-character territory "
            "+ 2-digit order + a letter, e.g. QN07501M)",
            value=value,
        )
    return code


_QPV_TERRITORY = r"(0(0[1-9]|1[0-9]|2[1-9AB]|[3-8][0-9]|9[0-5])|97[1-68])"
_QPV_PATTERN = rf"^(QP{_QPV_TERRITORY}[0-9]{{3}}|QN{_QPV_TERRITORY}[0-9]{{2}}[A-Z])$"

QpvCode = Annotated[
    str,
    _Code(
        _check_qpv,
        _QPV_PATTERN,
        "qpv_code",
        "a QPV code must be of the 2015 list (QP + 3-character territory + 3-digit order, "
        "e.g. QP075001) or of the 2024 list (QN + 3-character territory + 2-digit order + "
        "a letter, e.g. QN07501M)",
    ),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _QPV_PATTERN,
            "description": "QPV code of the 2015 list (QP…) or of the 2024 list (QN…).",
            "examples": ["QP069033", "QN07501M", "QN02A01A", "QP978001"],
        }
    ),
    ValueType("QpvCode"),
]


# --- Codes as the retired versions of the events carry them -------------------------------
# The versions of the events written before Saint-Martin and the 2015 QPV list were
# accepted keep their committed schemas: these narrower types describe them (971–976
# only, the 2024 QPV list only). Nothing new is written with them; records of those
# versions are read with them, then upcast to the current version.


def _narrowed(check: Callable[[str], str], pattern: str, rule: LiteralString,
              message: LiteralString) -> Callable[[str], str]:
    """``check``, then the narrower ``pattern`` of a retired contract."""
    fits = re.compile(pattern).fullmatch

    def narrowed(value: str) -> str:
        code = check(value)
        if not fits(code):
            raise _error(rule, message)
        return code

    return narrowed


_RETIRED_DEPARTEMENT_PATTERN = r"^(0[1-9]|1[0-9]|2[1-9AB]|[3-8][0-9]|9[0-5]|97[1-6])$"
_RETIRED_DEPARTEMENT_MESSAGE: LiteralString = (
    "a département must be 01–95 (without 20), 2A, 2B or 971–976")

RetiredDepartement = Annotated[
    str,
    _Code(
        _narrowed(_check_departement, _RETIRED_DEPARTEMENT_PATTERN, "departement",
                  _RETIRED_DEPARTEMENT_MESSAGE),
        _RETIRED_DEPARTEMENT_PATTERN,
        "departement",
        _RETIRED_DEPARTEMENT_MESSAGE,
    ),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _RETIRED_DEPARTEMENT_PATTERN,
            "description": "Département code: 01–95 (no 20), 2A, 2B, 971–976.",
            "examples": ["75", "2A", "976"],
        }
    ),
    ValueType("RetiredDepartement"),
]
"""A département as the retired versions carry it: 971–976, no Saint-Martin."""

_RETIRED_INSEE_PATTERN = (
    r"^((0[1-9]|1[0-9]|2[1-9AB]|[3-8][0-9]|9[0-5])[0-9]{3}|97[1-6][0-9]{2})$")
_RETIRED_INSEE_MESSAGE: LiteralString = (
    "an INSEE commune code must be a département (01–95, 2A, 2B, 971–976) followed by "
    "the commune number, 5 characters, e.g. 75056, 2A004, 97611")

RetiredInseeCode = Annotated[
    str,
    _Code(
        _narrowed(_check_insee, _RETIRED_INSEE_PATTERN, "insee_code", _RETIRED_INSEE_MESSAGE),
        _RETIRED_INSEE_PATTERN,
        "insee_code",
        _RETIRED_INSEE_MESSAGE,
    ),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _RETIRED_INSEE_PATTERN,
            "description": "INSEE commune code (COG): département + commune number.",
            "examples": ["75056", "2A004", "97611"],
        }
    ),
    ValueType("RetiredInseeCode"),
]
"""An INSEE commune code as the retired versions carry it: no Saint-Martin commune."""

_RETIRED_QPV_PATTERN = (
    r"^QN(0(0[1-9]|1[0-9]|2[1-9AB]|[3-8][0-9]|9[0-5])|97[1-6])[0-9]{2}[A-Z]$")
_RETIRED_QPV_MESSAGE: LiteralString = (
    "a QPV code must be QN + 3-character département (075, 02A, 976) + 2-digit order "
    "+ a letter, e.g. QN07501M")

RetiredQpvCode = Annotated[
    str,
    _Code(
        _narrowed(_check_qpv, _RETIRED_QPV_PATTERN, "qpv_code", _RETIRED_QPV_MESSAGE),
        _RETIRED_QPV_PATTERN,
        "qpv_code",
        _RETIRED_QPV_MESSAGE,
    ),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _RETIRED_QPV_PATTERN,
            "description": "QPV code of the 2024 list.",
            "examples": ["QN07501M", "QN02A01A", "QN97601B"],
        }
    ),
    ValueType("RetiredQpvCode"),
]
"""A QPV code as the retired versions carry it: the 2024 list only, no Saint-Martin."""


# --- UAI ----------------------------------------------------------------------------------

_UAI = re.compile(r"[0-9]{7}[A-Z]")


def _check_uai(value: str) -> str:
    code = _text(value)
    # The RNE check letter is not verified: synthetic and legacy UAIs in use do not follow it.
    if not _UAI.fullmatch(code):
        raise _error(
            "uai",
            "UAI '{value}' must be 7 digits followed by a letter, e.g. 0751234A",
            value=value,
        )
    return code


_UAI_PATTERN = r"^[0-9]{7}[A-Z]$"

Uai = Annotated[
    str,
    _Code(
        _check_uai,
        _UAI_PATTERN,
        "uai",
        "a UAI must be 7 digits followed by an upper-case letter, e.g. 0751234A",
    ),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _UAI_PATTERN,
            "description": "UAI (school identifier): 7 digits + 1 letter, upper case.",
            "examples": ["0751234A"],
        }
    ),
    ValueType("Uai"),
]


# --- SIREN / SIRET ------------------------------------------------------------------------

LA_POSTE_SIREN = "356000000"


def is_luhn_valid(digits: str) -> bool:
    """Luhn checksum of a string of ASCII digits."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = int(char)
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _digits(value: str) -> str:
    # SIREN/SIRET are often written in groups ("552 100 554"); spaces carry no meaning.
    return value.replace(" ", "").replace("\u00a0", "")


def _check_siren(value: str) -> str:
    code = _digits(value)
    if len(code) != 9 or not code.isdigit() or not code.isascii():
        raise _error("siren", "SIREN '{value}' must be 9 digits", value=value)
    if not is_luhn_valid(code):
        raise _error("siren_luhn", "SIREN '{value}' fails the Luhn check (typo?)", value=value)
    return code


def _check_siret(value: str) -> str:
    code = _digits(value)
    if len(code) != 14 or not code.isdigit() or not code.isascii():
        raise _error("siret", "SIRET '{value}' must be 14 digits (SIREN + NIC)", value=value)
    if code.startswith(LA_POSTE_SIREN):
        # La Poste's establishments share one SIREN; INSEE checks their digit sum mod 5.
        if sum(map(int, code)) % 5 and not is_luhn_valid(code):
            raise _error(
                "siret_la_poste",
                "La Poste SIRET '{value}': the sum of its digits must be a multiple of 5",
                value=value,
            )
        return code
    if not is_luhn_valid(code):
        raise _error("siret_luhn", "SIRET '{value}' fails the Luhn check (typo?)", value=value)
    if not is_luhn_valid(code[:9]):
        raise _error(
            "siret_luhn",
            "SIRET '{value}': its SIREN part {siren} fails the Luhn check",
            value=value,
            siren=code[:9],
        )
    return code


Siren = Annotated[
    str,
    AfterValidator(_check_siren),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^[0-9]{9}$",
            "description": "SIREN: 9 digits, Luhn-checked.",
            "examples": ["732829320"],
        }
    ),
    ValueType("Siren"),
]

Siret = Annotated[
    str,
    AfterValidator(_check_siret),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^[0-9]{14}$",
            "description": "SIRET: 14 digits (SIREN + NIC), Luhn-checked; La Poste "
            "(356000000…) uses digit sum multiple of 5.",
            "examples": ["73282932000074", "35600000049837"],
        }
    ),
    ValueType("Siret"),
]


# --- Money --------------------------------------------------------------------------------

# Largest integer a JSON consumer using IEEE doubles (JavaScript) reads exactly.
MAX_CENTS = 2**53 - 1


def _check_cents(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _error(
            "cents",
            "amounts are integer euro cents, not {kind} (e.g. 250 000 € is 25000000)",
            kind=type(value).__name__,
        )
    if value < 0:
        raise _error("cents_negative", "amount {value} cents cannot be negative", value=value)
    if value > MAX_CENTS:
        raise _error(
            "cents_too_large",
            "amount {value} cents exceeds {maximum}, the largest exact JSON integer",
            value=value,
            maximum=MAX_CENTS,
        )
    return value


Cents = Annotated[
    int,
    BeforeValidator(_check_cents),
    WithJsonSchema(
        {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_CENTS,
            "description": "Money in euro cents (integer, never a float).",
            "examples": [25000000],
        }
    ),
    ValueType("Cents"),
]


# --- Text, time, small numbers ------------------------------------------------------------

Email = Annotated[EmailStr, ValueType("Email")]

Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), ValueType("Name")
]
"""A proper name of a place, organisation or action (never of a person)."""

Motive = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2000),
    ValueType("Motive"),
]
"""A free-text reason given with a decision; must not contain personal data."""

Slug = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$", max_length=64),
    ValueType("Slug"),
]
"""A lower-case identifier such as a template or criterion code."""

CiteId = Annotated[
    str,
    StringConstraints(pattern=r"^cite-[0-9]{3,6}$"),
    ValueType("CiteId"),
]
"""Stable identifier of a labelled cité, given by labelling: ``cite-001``, ``cite-250``."""

WaveId = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$", max_length=32),
    ValueType("WaveId"),
]
"""Identifier of a labelling wave, e.g. ``2019``, ``2022-01``, ``2024-rolling``."""

EventTypeName = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_]*\.[A-Za-z][A-Za-z0-9_]*$", max_length=100),
    ValueType("EventTypeName"),
]
"""A wire event type, ``<producer>.<EventName>``."""

CiteReference = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$"),
    ValueType("CiteReference"),
]
"""The programme's own identifier of a cité taken over from its records (e.g.
``CE-2019-093-01``): stable from one import to the next, in every service's import."""

ActReference = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ./_-]*$",
                      max_length=64),
    ValueType("ActReference"),
]
"""The reference of a legal or accounting act (a convention, an arrêté, a recovery order),
as its issuer numbers it: ``2025-69-CE-014``."""

DossierNumber = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$"),
    ValueType("DossierNumber"),
]
"""The number of a subsidy request in the State's Dauphin platform."""

IndicatorValue = Annotated[
    Decimal,
    Field(max_digits=15, decimal_places=4),
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^-?[0-9]{1,11}(\.[0-9]{1,4})?$",
                    "description": "A decimal number written as text (never a float): "
                    "an indicator's measure, e.g. \"12.5\"", "examples": ["12.5"]}),
    ValueType("IndicatorValue"),
]
"""The measure of an evaluation indicator, exact (a rate, a count, a mean)."""

ProgrammeYear = Annotated[int, Field(ge=2019, le=2100), ValueType("ProgrammeYear")]
"""A calendar or budget year of the programme (it started in 2019)."""

Population = Annotated[int, Field(ge=0, le=10_000_000), ValueType("Population")]
"""Number of inhabitants."""


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDateTime = Annotated[AwareDatetime, AfterValidator(_to_utc), ValueType("UtcDateTime")]
"""An aware timestamp, normalised to UTC; naive datetimes are refused."""


# --- Label period -------------------------------------------------------------------------


def _add_years(start: date, years: int) -> date:
    try:
        return start.replace(year=start.year + years)
    except ValueError:  # 29 February has no anniversary in a common year: 1 March
        return date(start.year + years, 3, 1)


class LabelPeriod(ContractModel):
    """The period a label is valid, both ends included (a label lasts 3 years)."""

    start: date
    end: date = Field(description="Last day the label is valid (inclusive)")

    @model_validator(mode="after")
    def _end_after_start(self) -> Self:
        if self.end <= self.start:
            raise _error(
                "label_period",
                "label period must end after it starts (start {start}, end {end})",
                start=self.start.isoformat(),
                end=self.end.isoformat(),
            )
        return self

    @classmethod
    def of_years(cls, start: date, years: int = 3) -> LabelPeriod:
        """The period starting on ``start`` and lasting ``years`` whole years."""
        if years < 1:
            raise ValueError(f"a label lasts at least one year, not {years}")
        return cls(start=start, end=_add_years(start, years) - timedelta(days=1))

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end


# --- Enums --------------------------------------------------------------------------------


class PartnerKind(StrEnum):
    """Kinds of partner; the identifier each carries is given in the partners events."""

    ECOLE = "ecole"
    COLLEGE = "college"
    LYCEE = "lycee"
    COMMUNE = "commune"
    EPCI = "epci"
    PREFECTURE = "prefecture"
    RECTORAT_DASEN = "rectorat_dasen"
    CAF = "caf"
    ASSOCIATION = "association"
    ENTREPRISE = "entreprise"
    DEPARTEMENT = "departement"
    REGION = "region"

    @property
    def label(self) -> str:
        """The kind as a French reader names it (mails, messages, pages)."""
        return _PARTNER_KIND_LABELS[self]


_PARTNER_KIND_LABELS: dict[PartnerKind, str] = {
    PartnerKind.ECOLE: "école",
    PartnerKind.COLLEGE: "collège",
    PartnerKind.LYCEE: "lycée",
    PartnerKind.COMMUNE: "commune",
    PartnerKind.EPCI: "EPCI",
    PartnerKind.PREFECTURE: "préfecture",
    PartnerKind.RECTORAT_DASEN: "rectorat (DASEN)",
    PartnerKind.CAF: "caisse d’allocations familiales",
    PartnerKind.ASSOCIATION: "association",
    PartnerKind.ENTREPRISE: "entreprise",
    PartnerKind.DEPARTEMENT: "département",
    PartnerKind.REGION: "région",
}


class SchoolKind(StrEnum):
    ECOLE = "ecole"
    COLLEGE = "college"
    LYCEE = "lycee"


class EducationPriority(StrEnum):
    """Éducation prioritaire status of a school."""

    HORS_REP = "hors_rep"
    REP = "rep"
    REP_PLUS = "rep_plus"


class AllianceRole(StrEnum):
    CHEF_DE_FILE = "chef_de_file"
    COORDINATOR = "coordinator"
    STEERING_COMMITTEE = "steering_committee"
    FUNDER = "funder"
    ACTION_OPERATOR = "action_operator"


class TroikaRole(StrEnum):
    """The local signatories of a candidature."""

    PREFET = "prefet"
    RECTEUR = "recteur"
    MAIRE = "maire"
    PRESIDENT_EPCI = "president_epci"


class ConventionParty(StrEnum):
    """Who signs a cité's convention-cadre: the préfet, the recteur and the collectivité
    (cheffe de file), and possibly other partners (the CAF, the département…)."""

    PREFET = "prefet"
    RECTEUR = "recteur"
    COLLECTIVITE = "collectivite"
    OTHER = "other"


class ActorRole(StrEnum):
    """Platform roles that take decisions; events name the role, never the person."""

    NATIONAL_COORDINATION = "national_coordination"
    PREFECTURE = "prefecture"
    PARTNER = "partner"
    SYSTEM = "system"


class BudgetProgramme(StrEnum):
    P147 = "P147"  # Politique de la ville
    P230 = "P230"  # Vie de l'élève


class AllocationRefusalReason(StrEnum):
    ENVELOPE_EXHAUSTED = "envelope_exhausted"
    NO_OPEN_ENVELOPE = "no_open_envelope"
    LABEL_NOT_ACTIVE = "label_not_active"


class DotationRuleKind(StrEnum):
    """How a cité's yearly dotation was computed (an envelope's policy, or by hand)."""

    FIXED = "fixed"
    REQUESTED_CAPPED = "requested_capped"
    POPULATION = "population"
    MANUAL = "manual"


class LegalActKind(StrEnum):
    """The act that grants a subsidy: a convention (required above 23 000 € to a body of
    private law, décret n° 2001-495) or an arrêté attributif."""

    CONVENTION = "convention"
    ARRETE = "arrete"


class ReviewObjective(StrEnum):
    """The programme's three mandatory objectives, one of which each action of a revue de
    projet's action plan serves."""

    SCHOOL_ROLE = "school_role"
    """Conforter le rôle de l'école."""
    EDUCATIONAL_CONTINUITY = "educational_continuity"
    """Promouvoir la continuité éducative."""
    OPENING_OPPORTUNITIES = "opening_opportunities"
    """Ouvrir le champ des possibles (mobilité, ouverture)."""


class AgeGroup(StrEnum):
    """The ages an action reaches, within the programme's 0–25 years."""

    EARLY_CHILDHOOD = "0-2"
    PRESCHOOL = "3-5"
    PRIMARY = "6-10"
    COLLEGE = "11-15"
    LYCEE = "16-18"
    YOUNG_ADULTS = "19-25"
    ALL_AGES = "0-25"


class ReviewTheme(StrEnum):
    """The theme of an action, from one national list so that the synthesis adds cités up
    (the Cour des comptes found no harmonised evaluation)."""

    SCHOOL_SUCCESS = "school_success"
    PARENTHOOD = "parenthood"
    HEALTH = "health"
    CULTURE = "culture"
    SPORT = "sport"
    DIGITAL = "digital"
    GUIDANCE = "guidance"
    CITIZENSHIP = "citizenship"
    MOBILITY = "mobility"
    EARLY_CHILDHOOD = "early_childhood"
    OTHER = "other"


class FreezeReason(StrEnum):
    LABEL_SUSPENDED = "label_suspended"
    LABEL_WITHDRAWN = "label_withdrawn"
    LABEL_EXPIRED = "label_expired"


class AllianceClosureReason(StrEnum):
    LABEL_WITHDRAWN = "label_withdrawn"
    LABEL_EXPIRED = "label_expired"


class NotificationChannel(StrEnum):
    EMAIL = "email"


class RecipientKind(StrEnum):
    TROIKA = "troika"
    PARTNER_CONTACT = "partner_contact"
