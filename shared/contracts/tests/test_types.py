"""Value types accept the brief's examples and refuse what breaks a rule, naming it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError

from cites_contracts import testing
from cites_contracts.types import (
    MAX_CENTS,
    Cents,
    Departement,
    Email,
    InseeCode,
    LabelPeriod,
    PartnerKind,
    QpvCode,
    QpvList,
    RetiredDepartement,
    RetiredInseeCode,
    RetiredQpvCode,
    Siren,
    Siret,
    Uai,
    UtcDateTime,
    departement_of,
    is_luhn_valid,
    qpv_departement,
    qpv_list_of,
    time_zone_of,
)


def valid(tp: Any, value: object) -> Any:
    return TypeAdapter(tp).validate_python(value)


def refusal(tp: Any, value: object) -> dict[str, Any]:
    with pytest.raises(ValidationError) as caught:
        TypeAdapter(tp).validate_python(value)
    (error,) = caught.value.errors()
    return dict(error)


# --- INSEE --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_code", "canonical"),
    [
        ("75056", "75056"),
        ("2A004", "2A004"),
        ("2b033", "2B033"),
        ("97611", "97611"),
        (" 13055 ", "13055"),
        ("01001", "01001"),
    ],
)
def test_insee_code_accepts_communes_of_every_kind(given_code: str, canonical: str) -> None:
    assert valid(InseeCode, given_code) == canonical


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("20004", "2A or 2B"),
        ("7505", "5 characters"),
        ("750566", "5 characters"),
        ("99101", "département"),
        ("97711", "département"),
        ("96001", "département"),
        ("00001", "département"),
        ("2C004", "département"),
        ("7505A", "département"),
    ],
)
def test_insee_code_refuses_and_names_the_rule(code: str, words: str) -> None:
    error = refusal(InseeCode, code)
    assert error["type"] == "insee_code"
    assert words in error["msg"]


def test_insee_code_is_a_string_not_a_number() -> None:
    assert refusal(InseeCode, 75056)["type"] == "string_type"


def test_departement_of_an_insee_code() -> None:
    assert [departement_of(c) for c in ("75056", "2A004", "97611")] == ["75", "2A", "976"]


def test_departement_of_a_qpv_code() -> None:
    assert [qpv_departement(c) for c in ("QN07501M", "QN02A01B", "QN97601B", "QN06901M")] \
        == ["75", "2A", "976", "69"]


# --- QPV ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_code", "canonical"),
    [
        ("QN07501M", "QN07501M"),
        ("qn07501m", "QN07501M"),
        ("QN02A01A", "QN02A01A"),
        ("QN97601B", "QN97601B"),
    ],
)
def test_qpv_code_accepts_the_2024_list_format(given_code: str, canonical: str) -> None:
    assert valid(QpvCode, given_code) == canonical


@pytest.mark.parametrize(
    ("given_code", "canonical"),
    [
        ("QP075001", "QP075001"),
        ("qp069033", "QP069033"),
        ("QP02A001", "QP02A001"),
        ("QP974012", "QP974012"),
        ("QP978001", "QP978001"),
    ],
)
def test_qpv_code_accepts_the_2015_list_format(given_code: str, canonical: str) -> None:
    assert valid(QpvCode, given_code) == canonical
    assert qpv_list_of(canonical) is QpvList.LIST_2015


def test_saint_martin_has_qpvs_on_both_lists() -> None:
    assert [valid(QpvCode, c) for c in ("QN97801A", "QP978002")] == ["QN97801A", "QP978002"]
    assert [qpv_departement(c) for c in ("QN97801A", "QP978002")] == ["978", "978"]


@pytest.mark.parametrize(
    "code", ["QN7501M", "QN02001M", "QN09801M", "QN0750AM", "QN075011", "QN97701A"]
)
def test_qpv_code_refuses_malformed_2024_codes_naming_the_2024_format(code: str) -> None:
    error = refusal(QpvCode, code)
    assert error["type"] == "qpv_code"
    assert "of the 2024 list" in error["msg"] and "QN07501M" in error["msg"]
    assert "QP075001" not in error["msg"]


@pytest.mark.parametrize(
    "code", ["QP07501M", "QP75001", "QP0750011", "QP020001", "QP098001", "QP977001"]
)
def test_qpv_code_refuses_malformed_2015_codes_naming_the_2015_format(code: str) -> None:
    error = refusal(QpvCode, code)
    assert error["type"] == "qpv_code"
    assert "of the 2015 list" in error["msg"] and "QP075001" in error["msg"]
    assert "QN07501M" not in error["msg"]


@pytest.mark.parametrize("code", ["XX07501M", "Q075001", "QR075001", ""])
def test_a_code_of_neither_list_is_refused_naming_both_formats(code: str) -> None:
    error = refusal(QpvCode, code)
    assert error["type"] == "qpv_code"
    assert "QP075001" in error["msg"] and "QN07501M" in error["msg"]


def test_the_2024_list_of_a_qpv_code() -> None:
    assert [qpv_list_of(c) for c in ("QN07501M", "QP075001")] == [QpvList.LIST_2024,
                                                                  QpvList.LIST_2015]


# --- UAI ----------------------------------------------------------------------------------


def test_uai_accepts_the_brief_example_and_normalises_case() -> None:
    assert valid(Uai, "0751234A") == "0751234A"
    assert valid(Uai, " 0751234a ") == "0751234A"


@pytest.mark.parametrize("code", ["075123A", "07512345", "0751234-", "0751234AB", "A751234A"])
def test_uai_refuses_anything_but_seven_digits_and_a_letter(code: str) -> None:
    error = refusal(Uai, code)
    assert error["type"] == "uai"
    assert "7 digits followed by a letter" in error["msg"]


# --- SIREN / SIRET ------------------------------------------------------------------------


def test_siren_is_luhn_checked() -> None:
    assert valid(Siren, "732829320") == "732829320"
    assert valid(Siren, "732 829 320") == "732829320"
    assert refusal(Siren, "732829321")["type"] == "siren_luhn"
    assert refusal(Siren, "73282932")["type"] == "siren"


def test_a_valid_siret_is_accepted_with_or_without_spaces() -> None:
    assert valid(Siret, "73282932000074") == "73282932000074"
    assert valid(Siret, "732 829 320 00074") == "73282932000074"


def test_a_siret_failing_luhn_is_refused() -> None:
    error = refusal(Siret, "73282932000075")
    assert error["type"] == "siret_luhn"
    assert "Luhn" in error["msg"]


def test_a_siret_whose_siren_part_fails_luhn_is_refused() -> None:
    siret = next(f"7328293210007{d}" for d in "0123456789" if is_luhn_valid(f"7328293210007{d}"))
    error = refusal(Siret, siret)
    assert error["type"] == "siret_luhn"
    assert "SIREN part" in error["msg"]


def test_la_poste_sirets_use_the_digit_sum_rule() -> None:
    assert not is_luhn_valid("35600000049837")  # would fail the ordinary rule
    assert valid(Siret, "35600000049837") == "35600000049837"
    assert valid(Siret, "35600000000048") == "35600000000048"  # head office, Luhn-valid
    error = refusal(Siret, "35600000049838")
    assert error["type"] == "siret_la_poste"
    assert "multiple of 5" in error["msg"]


@pytest.mark.parametrize("code", ["7328293200007", "732829320000745", "7328293200007A"])
def test_a_siret_must_have_fourteen_digits(code: str) -> None:
    assert refusal(Siret, code)["type"] == "siret"


# --- Money --------------------------------------------------------------------------------


def test_cents_accepts_non_negative_integers() -> None:
    assert valid(Cents, 0) == 0
    assert valid(Cents, 25_000_000) == 25_000_000
    assert TypeAdapter(Cents).validate_json("3000000") == 3_000_000


@pytest.mark.parametrize(
    ("amount", "rule"),
    [
        (-1, "cents_negative"),
        (12.5, "cents"),
        (10.0, "cents"),
        (True, "cents"),
        ("100", "cents"),
        (None, "cents"),
        (MAX_CENTS + 1, "cents_too_large"),
    ],
)
def test_cents_refuses_negatives_floats_booleans_and_strings(amount: object, rule: str) -> None:
    assert refusal(Cents, amount)["type"] == rule


def test_cents_refuses_a_json_float() -> None:
    with pytest.raises(ValidationError, match="integer euro cents, not float"):
        TypeAdapter(Cents).validate_json("1.0")


# --- Other types --------------------------------------------------------------------------


def test_email_is_validated() -> None:
    assert valid(Email, "ce.0751234a@ac-paris.fr") == "ce.0751234a@ac-paris.fr"
    refusal(Email, "not-an-address")


@pytest.mark.parametrize(
    ("code", "canonical"), [("75", "75"), ("2a", "2A"), ("976", "976"), ("01", "01"),
                            ("978", "978")]
)
def test_departement_accepts_metropolitan_corsican_and_overseas(code: str, canonical: str) -> None:
    assert valid(Departement, code) == canonical


@pytest.mark.parametrize("code", ["20", "1", "96", "977", "2C", "00"])
def test_departement_refuses_codes_that_are_not_departements(code: str) -> None:
    assert refusal(Departement, code)["type"] == "departement"


def test_saint_martin_is_a_territory_with_its_communes() -> None:
    assert valid(InseeCode, "97801") == "97801"
    assert departement_of("97801") == "978"
    assert "978 (Saint-Martin)" in refusal(Departement, "979")["msg"]


@pytest.mark.parametrize(("retired", "value", "rule"), [
    (RetiredDepartement, "978", "departement"), (RetiredInseeCode, "97801", "insee_code"),
    (RetiredQpvCode, "QP075001", "qpv_code"), (RetiredQpvCode, "QN97801A", "qpv_code")])
def test_the_retired_versions_codes_keep_their_narrower_rule(retired: Any, value: str,
                                                            rule: str) -> None:
    """The retired versions of the events keep their schemas: no Saint-Martin, no 2015
    list (what they accept is what they always accepted)."""
    assert refusal(retired, value)["type"] == rule
    assert TypeAdapter(retired).json_schema()["pattern"] not in (
        TypeAdapter(Departement).json_schema()["pattern"],
        TypeAdapter(InseeCode).json_schema()["pattern"],
        TypeAdapter(QpvCode).json_schema()["pattern"])
    assert [valid(t, v) for t, v in ((RetiredDepartement, "976"), (RetiredInseeCode, "97611"),
                                    (RetiredQpvCode, "qn07501m"))] == ["976", "97611",
                                                                       "QN07501M"]


def test_utc_datetime_refuses_naive_and_normalises_to_utc() -> None:
    paris_summer = datetime(2025, 6, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    normalised = valid(UtcDateTime, paris_summer)
    assert normalised == paris_summer
    assert normalised.utcoffset() == timedelta(0)
    assert refusal(UtcDateTime, datetime(2025, 6, 1, 12, 0))["type"] == "timezone_aware"


# --- Label period -------------------------------------------------------------------------


def test_a_label_lasts_three_years_both_ends_included() -> None:
    period = LabelPeriod.of_years(date(2025, 1, 1))
    assert period.end == date(2027, 12, 31)
    assert period.contains(date(2025, 1, 1))
    assert period.contains(date(2027, 12, 31))
    assert not period.contains(date(2028, 1, 1))
    assert not period.contains(date(2024, 12, 31))


def test_a_label_starting_on_29_february_ends_on_28_february() -> None:
    assert LabelPeriod.of_years(date(2024, 2, 29)).end == date(2027, 2, 28)


def test_a_label_period_must_end_after_it_starts() -> None:
    with pytest.raises(ValidationError) as caught:
        LabelPeriod(start=date(2025, 1, 1), end=date(2025, 1, 1))
    assert caught.value.errors()[0]["type"] == "label_period"
    with pytest.raises(ValueError, match="at least one year"):
        LabelPeriod.of_years(date(2025, 1, 1), years=0)


# --- Strategies and FastAPI ---------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    insee=testing.insee_codes(),
    qpv=testing.qpv_codes(),
    uai=testing.uais(),
    siren=testing.sirens(),
    siret=testing.sirets(),
    departement=testing.departements(),
    amount=testing.cents(),
)
def test_strategies_generate_only_valid_codes(
    insee: str, qpv: str, uai: str, siren: str, siret: str, departement: str, amount: int
) -> None:
    for tp, value in [
        (InseeCode, insee),
        (QpvCode, qpv),
        (Uai, uai),
        (Siren, siren),
        (Siret, siret),
        (Departement, departement),
        (Cents, amount),
    ]:
        assert valid(tp, value) == value


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_la_poste_strategy_covers_the_exception(data: st.DataObject) -> None:
    siret = data.draw(testing.la_poste_sirets())
    assert siret.startswith("356000000")
    assert valid(Siret, siret) == siret


class CommuneBody(BaseModel):
    insee_code: InseeCode
    dotation: Cents


def test_value_types_work_in_a_fastapi_body() -> None:
    import anyio
    import httpx
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/communes")
    def create(commune: CommuneBody) -> CommuneBody:
        return commune

    async def post(body: dict[str, object]) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post("/communes", json=body)

    accepted = anyio.run(post, {"insee_code": "2a004", "dotation": 100})
    assert accepted.json() == {"insee_code": "2A004", "dotation": 100}
    refused = anyio.run(post, {"insee_code": "20004", "dotation": 1.5})
    assert refused.status_code == 422
    assert {e["type"] for e in refused.json()["detail"]} == {"insee_code", "cents"}
    schema = app.openapi()["components"]["schemas"]["CommuneBody"]["properties"]
    assert "pattern" in schema["insee_code"]
    assert schema["dotation"]["type"] == "integer"


def test_every_partner_kind_has_its_french_label() -> None:
    # One table for every service's messages and mails: a kind added without its label
    # would fail here, not in a mail.
    assert {k: k.label for k in PartnerKind}[PartnerKind.RECTORAT_DASEN] == "rectorat (DASEN)"
    assert all(k.label for k in PartnerKind)


@pytest.mark.parametrize(("departement", "zone", "local"), [
    ("69", "Europe/Paris", "2026-12-06 23:27"),
    ("2A", "Europe/Paris", "2026-12-06 23:27"),
    ("974", "Indian/Reunion", "2026-12-07 02:27"),
    ("976", "Indian/Mayotte", "2026-12-07 01:27"),
    ("971", "America/Guadeloupe", "2026-12-06 18:27"),
    ("973", "America/Cayenne", "2026-12-06 19:27"),
    ("978", "America/Marigot", "2026-12-06 18:27"),
])
def test_each_territory_reads_its_own_local_time(departement: str, zone: str,
                                                 local: str) -> None:
    """A submission at 22:27 UTC is 23:27 in Paris, 02:27 the next day in La Réunion."""
    at = datetime(2026, 12, 6, 22, 27, tzinfo=UTC)

    assert time_zone_of(departement) == zone
    assert at.astimezone(ZoneInfo(time_zone_of(departement))).strftime("%Y-%m-%d %H:%M") \
        == local
