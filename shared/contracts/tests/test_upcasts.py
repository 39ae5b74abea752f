"""Upcasters: a retired version's records become events of the newer version, always.

Every upcaster of the catalogue is total: any valid payload of its retired version becomes
a valid payload of the newer one, which the codec reads back strictly as it travels."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cites_contracts import Envelope, Event, decode, encode, event, registry, upcasts
from cites_contracts.events.labelling import (
    LabelExpired,
    Perimeter,
    PerimeterExtended,
    PerimeterExtendedV1,
    TerritoryLabelled,
    TerritoryLabelledV1,
)
from cites_contracts.events.partners import PartnerRegistered, PartnerRegisteredV2
from cites_contracts.examples import example
from cites_contracts.schemas import event_schema
from cites_contracts.testing import payloads
from cites_contracts.topics import LABELLING_LABELS
from cites_contracts.types import QpvList

UPCASTERS = [u for u in (registry.upcaster(s.model) for s in registry.catalogue())
             if u is not None]


def test_the_versions_that_only_widened_codes_are_upcast() -> None:
    assert {(u.source.spec.type, u.source.spec.version, u.target.spec.version)
            for u in UPCASTERS} == {
        ("labelling.CandidatureSubmitted", 2, 3), ("labelling.TerritoryLabelled", 1, 2),
        ("labelling.PerimeterExtended", 1, 2), ("partners.PartnerRegistered", 2, 3),
        ("partners.PartnerUpdated", 2, 3)}
    assert all(u.source.spec.retired and u.target.spec.retired == "" for u in UPCASTERS)


@pytest.mark.parametrize("upcaster", UPCASTERS, ids=lambda u: u.source.__name__)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_upcaster_is_total(upcaster: Any, data: st.DataObject) -> None:
    old = data.draw(payloads(upcaster.source))
    new = upcaster.convert(old)
    assert type(new) is upcaster.target
    # What the newer version puts on the wire, the codec reads back strictly.
    record = encode(Envelope.wrap(new, sequence=1))
    assert decode(record.value, record.headers).data == new


def test_an_upcast_perimeter_is_on_the_2024_list_and_keeps_everything() -> None:
    old = TerritoryLabelledV1.model_validate(example(TerritoryLabelledV1.spec))
    new = registry.upcast(old, {TerritoryLabelled})
    assert isinstance(new, TerritoryLabelled)
    assert new.perimeter.qpv_list is QpvList.LIST_2024
    assert (new.model_dump(exclude={"perimeter", "reference"})
            == old.model_dump(exclude={"perimeter"}))
    assert new.reference is None  # v1 labels were all labelled on the platform
    assert new.perimeter.model_dump(exclude={"qpv_list"}) == old.perimeter.model_dump()


def test_an_upcast_extension_keeps_what_it_added() -> None:
    old = PerimeterExtendedV1.model_validate(example(PerimeterExtendedV1.spec))
    new = registry.upcast(old, {PerimeterExtended})
    assert isinstance(new, PerimeterExtended)
    assert new.added.model_dump() == old.added.model_dump()


def test_upcasting_stops_at_a_wanted_class_and_says_when_none_is_reachable() -> None:
    current = PartnerRegistered.model_validate(example(PartnerRegistered.spec))
    assert registry.upcast(current, {PartnerRegistered}) is current
    old = PartnerRegisteredV2.model_validate(example(PartnerRegisteredV2.spec))
    assert registry.upcast(old, {TerritoryLabelled}) is None
    assert registry.upcaster(LabelExpired) is None


@event("labelling.UpcastProbe", topic=LABELLING_LABELS, key="cite_id", emitted_when="never")
class ProbeV1(Event):
    cite_id: str


@event("labelling.UpcastProbe", version=2, topic=LABELLING_LABELS, key="cite_id",
       emitted_when="never")
class Probe(Event):
    cite_id: str


def test_only_a_retired_version_is_upcast_to_a_newer_one_of_its_event() -> None:
    with pytest.raises(TypeError, match="declare it retired"):
        upcasts(ProbeV1, Probe)(lambda e: Probe(cite_id=e.cite_id))
    assert registry.upcaster(ProbeV1) is None
    with pytest.raises(TypeError, match="newer one of the same event"):
        upcasts(TerritoryLabelledV1, PerimeterExtended)(lambda e: e)  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="newer one of the same event"):
        upcasts(PerimeterExtendedV1, PerimeterExtendedV1)(lambda e: e)


def _perimeter(*codes: str, qpv_list: str) -> dict[str, Any]:
    perimeter = example(TerritoryLabelled.spec)["perimeter"]
    return {**perimeter, "qpv_list": qpv_list,
            "qpvs": [{"code": c, "name": f"Quartier {c}", "population": 1000} for c in codes]}


def test_a_perimeter_says_its_list_and_all_its_qpvs_are_of_it() -> None:
    assert Perimeter.model_validate(_perimeter("QP069033", "QP069034", qpv_list="2015")
                                    ).qpv_list is QpvList.LIST_2015
    with pytest.raises(ValidationError) as caught:
        Perimeter.model_validate(_perimeter("QP069033", "QN06901M", "QN06902M",
                                            qpv_list="2015"))
    error, = caught.value.errors()
    assert error["type"] == "qpv_list"
    assert error["msg"] == ("the perimeter refers to the 2015 QPV list; not of that list: "
                            "QN06901M, QN06902M")
    missing = _perimeter("QN06901M", qpv_list="2024")
    del missing["qpv_list"]
    with pytest.raises(ValidationError, match="qpv_list"):
        Perimeter.model_validate(missing)


def test_the_committed_schema_of_a_retired_version_names_the_version_it_is_upcast_to(
) -> None:
    assert event_schema(TerritoryLabelledV1.spec)["x-upcast-to"] == 2
    assert "x-upcast-to" not in event_schema(TerritoryLabelled.spec)


def test_an_envelope_of_a_retired_version_is_current_with_its_metadata() -> None:
    old = Envelope.wrap(TerritoryLabelledV1.model_validate(example(TerritoryLabelledV1.spec)),
                        sequence=4)
    new = old.current()
    assert (type(new.data), new.version) == (TerritoryLabelled, 2)
    assert new.model_dump(exclude={"data", "version"}) == old.model_dump(
        exclude={"data", "version"})
    current = Envelope.wrap(new.data, sequence=1)
    assert current.current() is current
