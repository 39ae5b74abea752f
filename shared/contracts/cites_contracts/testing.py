"""Valid contract values for any service's tests: builders of one event, and Hypothesis
strategies.

``event(LabelSuspended, cite_id="cite-042")`` is the catalogue's example of the event with
the fields a test is about replaced, validated again; ``territory_labelled(...)`` a label
whose perimeter agrees with its département and lead collège, the event most tests start
from.

Needs ``hypothesis`` (``pip install cites-contracts[testing]``). ``payloads(Model)`` builds
any contract model, field by field, from its type hints: value types are recognised by
their :class:`~cites_contracts.types.ValueType` marker, constraints (``Field(ge=…)``,
``min_length``…) are honoured, optional fields get both ``None`` and values. A constrained
type the walker does not understand raises ``TypeError`` instead of generating junk.
"""

from __future__ import annotations

import types as pytypes
import typing
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta, timezone
from enum import Enum
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin
from uuid import UUID, uuid4

import annotated_types as at
from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from .envelope import Envelope, Event, EventSpec, registry
from .events.labelling import (
    Perimeter,
    PerimeterCommune,
    PerimeterQpv,
    PerimeterSchool,
    TerritoryLabelled,
)
from .examples import example
from .types import DEPARTEMENTS, MAX_CENTS, LabelPeriod, QpvList, ValueType, is_luhn_valid

__all__ = [
    "VALUE_STRATEGIES",
    "cents",
    "departements",
    "emails",
    "envelopes",
    "event",
    "insee_codes",
    "la_poste_sirets",
    "label_periods",
    "payloads",
    "perimeters",
    "qpv_codes",
    "qpv_codes_2015",
    "qpv_codes_2024",
    "register_type_strategies",
    "sirens",
    "sirets",
    "strategy_for",
    "territory_labelled",
    "uais",
    "utc_datetimes",
]

M = TypeVar("M", bound=BaseModel)
E = TypeVar("E", bound=Event)
S = st.SearchStrategy

_DIGIT = "0123456789"
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _digits(n: int) -> S[str]:
    return st.text(_DIGIT, min_size=n, max_size=n)


def _luhn_complete(prefix: str) -> str:
    """Append the digit that makes ``prefix`` + digit Luhn-valid."""
    return next(prefix + d for d in _DIGIT if is_luhn_valid(prefix + d))


# --- Codes --------------------------------------------------------------------------------


def departements() -> S[str]:
    return st.sampled_from(DEPARTEMENTS)


def insee_codes() -> S[str]:
    def code(dept: str, digits: str) -> str:
        return dept + digits[: 5 - len(dept)]

    return st.builds(code, departements(), _digits(3))


def qpv_codes() -> S[str]:
    """QPV codes of both lists."""
    return st.one_of(qpv_codes_2015(), qpv_codes_2024())


def qpv_codes_2015() -> S[str]:
    return st.builds(lambda dept, order: f"QP{dept.zfill(3)}{order}", departements(),
                     _digits(3))


def qpv_codes_2024(territories: S[str] | None = None) -> S[str]:
    def code(dept: str, order: str, letter: str) -> str:
        return f"QN{dept.zfill(3)}{order}{letter}"

    return st.builds(code, departements() if territories is None else territories, _digits(2),
                     st.sampled_from(_UPPER))


def _retired_departements() -> S[str]:
    """The départements the retired versions of the events accept (no Saint-Martin)."""
    return st.sampled_from([d for d in DEPARTEMENTS if d != "978"])


def uais() -> S[str]:
    return st.builds(lambda d, letter: d + letter, _digits(7), st.sampled_from(_UPPER))


def sirens() -> S[str]:
    return _digits(8).map(_luhn_complete)


def la_poste_sirets() -> S[str]:
    def complete(nic: str) -> str:
        head = "356000000" + nic
        return next(head + d for d in _DIGIT if sum(map(int, head + d)) % 5 == 0)

    return _digits(4).map(complete)


def sirets() -> S[str]:
    ordinary = st.builds(lambda siren, nic: _luhn_complete(siren + nic), sirens(), _digits(4))
    return st.one_of(ordinary, la_poste_sirets())


# --- Other value types --------------------------------------------------------------------


def cents() -> S[int]:
    return st.one_of(st.integers(0, 10**10), st.integers(0, MAX_CENTS))


def emails() -> S[str]:
    local = st.from_regex(r"[a-z0-9]{1,12}(\.[a-z0-9]{1,12})?", fullmatch=True)
    domain = st.sampled_from(["ac-paris.fr", "ville-marseille.fr", "seine-saint-denis.gouv.fr"])
    return st.builds(lambda lp, d: f"{lp}@{d}", local, domain)


def _names(max_size: int) -> S[str]:
    # Names are stored stripped, so generate them without surrounding whitespace.
    text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=max_size)
    return text.map(str.strip).filter(bool)


def utc_datetimes() -> S[datetime]:
    offsets = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-4))])
    return st.datetimes(datetime(2019, 1, 1), datetime(2040, 12, 31), timezones=offsets)


def label_periods() -> S[LabelPeriod]:
    return st.builds(
        LabelPeriod.of_years, st.dates(date(2019, 1, 1), date(2035, 12, 31)), st.integers(1, 3)
    )


_SLUG = r"[a-z0-9]{1,8}([-_][a-z0-9]{1,8}){0,2}"

VALUE_STRATEGIES: dict[str, Callable[[], S[Any]]] = {
    "Departement": departements,
    "InseeCode": insee_codes,
    "QpvCode": qpv_codes,
    "RetiredDepartement": _retired_departements,
    "RetiredInseeCode": lambda: st.builds(lambda d, digits: d + digits[: 5 - len(d)],
                                          _retired_departements(), _digits(3)),
    "RetiredQpvCode": lambda: qpv_codes_2024(_retired_departements()),
    "Uai": uais,
    "Siren": sirens,
    "Siret": sirets,
    "Cents": cents,
    "Email": emails,
    "Name": lambda: _names(40),
    "Motive": lambda: _names(120),
    "Slug": lambda: st.from_regex(_SLUG, fullmatch=True),
    "WaveId": lambda: st.from_regex(r"20[1-3][0-9](-[a-z0-9]{1,8})?", fullmatch=True),
    "CiteId": lambda: st.integers(1, 999_999).map(lambda n: f"cite-{n:03d}"),
    "ActReference": lambda: st.from_regex(r"[A-Z0-9][A-Za-z0-9./_-]{0,20}", fullmatch=True),
    "CiteReference": lambda: st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,30}", fullmatch=True),
    "DossierNumber": lambda: st.from_regex(r"[A-Za-z0-9][A-Za-z0-9-]{0,20}", fullmatch=True),
    "EventTypeName": lambda: st.from_regex(r"[a-z]{1,12}\.[A-Z][A-Za-z]{0,20}", fullmatch=True),
    "ProgrammeYear": lambda: st.integers(2019, 2100),
    "Population": lambda: st.integers(0, 10_000_000),
    "UtcDateTime": utc_datetimes,
    "IndicatorValue": lambda: st.decimals(min_value=-10**11 + 1, max_value=10**11 - 1,
                                          places=4, allow_nan=False, allow_infinity=False),
}
"""Value type name (its ``ValueType`` marker) → strategy of valid values."""

def perimeters() -> S[Perimeter]:
    """Perimeters whose QPVs are all of the list they refer to."""
    def on(qpv_list: QpvList, codes: S[str]) -> S[Perimeter]:
        qpv = st.builds(PerimeterQpv, code=codes, name=_names(40),
                        population=st.integers(0, 10_000_000))
        return st.builds(
            Perimeter, communes=st.lists(payloads(PerimeterCommune), min_size=1,
                                         max_size=_MAX_ITEMS).map(tuple),
            qpv_list=st.just(qpv_list),
            qpvs=st.lists(qpv, min_size=1, max_size=_MAX_ITEMS).map(tuple),
            schools=st.lists(payloads(PerimeterSchool), min_size=1,
                             max_size=_MAX_ITEMS).map(tuple))

    return st.one_of(on(QpvList.LIST_2015, qpv_codes_2015()),
                     on(QpvList.LIST_2024, qpv_codes_2024()))


_MODEL_STRATEGIES: dict[type[BaseModel], Callable[[], S[Any]]] = {
    LabelPeriod: label_periods, Perimeter: perimeters}


# --- The walker ---------------------------------------------------------------------------


class _Bounds:
    """Numeric and size constraints gathered from ``Annotated`` metadata."""

    def __init__(self) -> None:
        self.low: int | None = None
        self.high: int | None = None
        self.min_len = 0
        self.max_len: int | None = None

    def add(self, items: Iterable[Any], where: object) -> None:
        for item in items:
            if isinstance(item, FieldInfo):
                self.add(item.metadata, where)
            elif isinstance(item, at.Ge):
                self.low = int(typing.cast(int, item.ge))
            elif isinstance(item, at.Gt):
                self.low = int(typing.cast(int, item.gt)) + 1
            elif isinstance(item, at.Le):
                self.high = int(typing.cast(int, item.le))
            elif isinstance(item, at.Lt):
                self.high = int(typing.cast(int, item.lt)) - 1
            elif isinstance(item, at.MinLen):
                self.min_len = item.min_length
            elif isinstance(item, at.MaxLen):
                self.max_len = item.max_length
            elif isinstance(item, at.GroupedMetadata):
                self.add(item, where)
            else:
                raise TypeError(
                    f"no strategy for {where!r}: unknown constraint {item!r}; "
                    "give the type a ValueType marker and a strategy in VALUE_STRATEGIES"
                )


_MAX_ITEMS = 3  # collections stay small: the aim is shape coverage, not volume


def strategy_for(tp: Any, extra: Iterable[Any] = ()) -> S[Any]:
    """A strategy of valid values of type ``tp`` (with extra ``Annotated`` metadata)."""
    extra = tuple(extra)
    if get_origin(tp) is Annotated:
        base, *metadata = get_args(tp)
        return strategy_for(base, (*metadata, *extra))
    for item in extra:
        if isinstance(item, ValueType):
            return VALUE_STRATEGIES[item.name]()
    bounds = _Bounds()
    bounds.add(extra, tp)
    origin, args = get_origin(tp), get_args(tp)
    if origin in (typing.Union, pytypes.UnionType):
        return st.one_of(*(strategy_for(arg, extra) for arg in args))
    if origin is Literal:
        return st.sampled_from(args)
    if origin in (tuple, list, frozenset, set):
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return st.tuples(*(strategy_for(arg) for arg in args))
        high = min(bounds.max_len or _MAX_ITEMS, max(bounds.min_len, _MAX_ITEMS))
        items = st.lists(strategy_for(args[0]), min_size=bounds.min_len, max_size=high)
        return items.map(origin)
    if tp is None or tp is type(None):
        return st.none()
    if isinstance(tp, type):
        return _strategy_for_class(tp, bounds)
    raise TypeError(f"no strategy for type {tp!r}")


def _strategy_for_class(tp: type, bounds: _Bounds) -> S[Any]:
    if issubclass(tp, BaseModel):
        return payloads(tp)
    if issubclass(tp, Enum):
        return st.sampled_from(list(tp))
    if tp is bool:
        return st.booleans()
    if tp is int:
        low = bounds.low if bounds.low is not None else -(10**6)
        return st.integers(low, bounds.high if bounds.high is not None else low + 10**6)
    if tp is str:
        return st.text(min_size=bounds.min_len, max_size=bounds.max_len or 40)
    if tp is UUID:
        return st.uuids()
    if tp is datetime:
        return utc_datetimes()
    if tp is date:
        return st.dates(date(2019, 1, 1), date(2040, 12, 31))
    raise TypeError(f"no strategy for class {tp.__qualname__}")


def payloads(model: type[M]) -> S[M]:
    """Valid instances of a contract model (event payload or nested model)."""
    custom = _MODEL_STRATEGIES.get(model)
    if custom is not None:
        return typing.cast(S[M], custom())
    hints = typing.get_type_hints(model, include_extras=True)
    fields = {
        name: strategy_for(hints[name], info.metadata) for name, info in model.model_fields.items()
    }
    return st.builds(model, **fields)


def register_type_strategies() -> None:
    """Teach ``st.from_type`` every registered event: ``st.from_type(TerritoryLabelled)``."""
    for spec in registry.all():
        st.register_type_strategy(spec.model, payloads(spec.model))


def envelopes(spec: EventSpec) -> S[Envelope[Event]]:
    """Envelopes of valid payloads of ``spec``'s event, with varied metadata."""

    def wrap(
        data: Event, sequence: int, correlation: UUID | None, causation: UUID | None
    ) -> Envelope[Event]:
        return Envelope.wrap(
            data, sequence=sequence, correlation_id=correlation, causation_id=causation
        )

    return st.builds(
        wrap,
        payloads(spec.model),
        st.integers(1, 10**9),
        st.none() | st.uuids(),
        st.none() | st.uuids(),
    )


# --- builders of one event --------------------------------------------------------------


def event(cls: type[E], /, **fields: Any) -> E:
    """A valid ``cls`` event: its catalogue example (:mod:`cites_contracts.examples`) with
    ``fields`` replaced, validated again (a field that breaks the contract raises pydantic's
    ``ValidationError``). Values may be models or their JSON-like form."""
    data = example(cls.spec)
    data.update({k: v.model_dump(mode="json") if isinstance(v, BaseModel) else v
                 for k, v in fields.items()})
    return cls.model_validate(data)


def territory_labelled(cite_id: str = "cite-001", *, departement: str = "93",
                       lead_uai: str = "0930001A", lead_name: str = "Collège Blanqui",
                       wave: str = "2024-rolling", wave_year: int = 2024,
                       population: int = 5200, schools: Iterable[Any] = (),
                       **fields: Any) -> TerritoryLabelled:
    r"""A label of ``cite_id`` whose perimeter agrees with its ``departement``: one commune
    (``<dep>010``, or ``<dep>10`` overseas: ``97410``), one QPV of the 2024 list
    (``QN<dep on 3>01M``: ``QN09301M``, ``QN97401M``; ``population``), the lead
    collège ``lead_uai`` then ``schools`` (``PerimeterSchool``\ s or their dicts); decided
    the day it was recorded when ``labelled_at`` is given; every other field from the
    catalogue's example unless given in ``fields``."""
    lead = {"uai": lead_uai, "kind": "college", "name": lead_name,
            "education_priority": "rep_plus"}
    perimeter = {
        "communes": [{"insee_code": (departement + "010")[:5], "name": "Bondy"}],
        "qpv_list": "2024",
        "qpvs": [{"code": f"QN{departement.zfill(3)}01M", "name": "Blanqui",
                  "population": population}],
        "schools": [lead, *(s.model_dump(mode="json") if isinstance(s, BaseModel) else s
                            for s in schools)],
    }
    given: dict[str, Any] = {
        "cite_id": cite_id, "name": f"Cité éducative {cite_id}", "departement": departement,
        "wave": {"id": wave, "year": wave_year}, "perimeter": perimeter,
        "lead_college_uai": lead_uai, "candidature_id": uuid4(), **fields}
    if "labelled_at" in fields and "decided_on" not in fields:  # decided the day recorded
        given["decided_on"] = fields["labelled_at"].date()
    return event(TerritoryLabelled, **given)
