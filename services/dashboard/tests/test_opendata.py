"""The open data: the labelled cités, served to anyone without a token, in French, from
what the events told (labelling's labels, partners' chef de file, funding's money); never a
test wave's cité nor a candidature; CSV and JSON agreeing with the Table Schema the
dashboard serves beside them."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from decimal import Decimal
from email.utils import format_datetime
from typing import Any
from uuid import uuid4

import pytest
from dashboard.app import definition
from dashboard.settings import DashboardSettings
from dashboard_kit import (
    Dashboard,
    alliance_opened,
    allocated,
    chef_designated,
    committed,
    expired,
    extended,
    fonds,
    frozen,
    labelled,
    labelled_in,
    paid,
    renewed,
    review_started,
    suspended,
    withdrawn,
)

from cites_contracts.events.labelling import Perimeter, Wave
from cites_contracts.types import LabelPeriod
from cites_runtime.testing import FakeClock, in_memory

REUNION = {"communes": [{"insee_code": "97411", "name": "Saint-Denis"}], "qpv_list": "2015",
           "qpvs": [{"code": "QP974012", "name": "Le Chaudron", "population": 6100}],
           "schools": [{"uai": "9740002A", "kind": "college", "name": "Collège Le Chaudron",
                        "education_priority": "rep_plus"}]}
REAL = Wave(id="2019", year=2019, title="Vague 2019 (préfiguration)")
TEST = Wave(id="2026-formation", year=2026, title="Formation des préfectures", test=True)
RENEWAL = LabelPeriod.of_years(date(2028, 1, 1))

MONEY_COLUMNS = ("dotation_p147", "dotation_p230", "fonds_de_la_cite")


def french_cite(cite_id: str = "cite-001") -> dict[str, Any]:
    """What the open data says of :func:`labelled_in`'s cité of :data:`REAL`, in the Rhône."""
    return {
        "code_cite": cite_id, "nom_cite": f"Cité éducative {cite_id}", "departement": "69",
        "nom_departement": "Rhône", "region": "Auvergne-Rhône-Alpes", "academie": "Lyon",
        "communes": [{"code_insee": "69010", "nom": "Bondy"}],
        "qpv": [{"code": "QN06901M", "nom": "Blanqui"}],
        "college_chef_de_file": {"uai": "0930001A", "nom": "Collège Blanqui"},
        "vague": "Vague 2019 (préfiguration)", "annee_vague": 2019,
        "debut_label": "2025-01-01", "fin_label": "2027-12-31",
        "periodes_label": [{"debut": "2025-01-01", "fin": "2027-12-31"}],
        "statut": "labellisée", "annees": []}


async def test_anyone_reads_the_labelled_cites_in_french_without_a_token(
        service: Dashboard) -> None:
    a1, a2, a3 = uuid4(), uuid4(), uuid4()
    await service.s.publish(
        labelled_in("cite-001", REAL), labelled_in("cite-002", TEST),
        review_started(uuid4()),  # a candidature, never published
        allocated("cite-001", a1, 250_000_00), allocated("cite-001", a2, 20_000_50,
                                                         programme="P230"),
        fonds("cite-001", 2025, 15_000_00, 15_000_00),
        allocated("cite-001", a3, 260_000_00, year=2026),
        allocated("cite-002", uuid4(), 100_000_00))

    r = await service.open_data()

    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.json() == [{**french_cite(), "annees": [
        {"annee": 2025, "dotation_p147": 250000.0, "dotation_p230": 20000.5,
         "fonds_de_la_cite": 30000.0},
        {"annee": 2026, "dotation_p147": 260000.0, "dotation_p230": 0.0,
         "fonds_de_la_cite": 0.0}]}]


async def test_the_amounts_are_the_states_as_funding_moved_them_per_cite_and_year(
        service: Dashboard) -> None:
    # Funding's statement of a cité (GET /cites/{id}/statement): per year and programme,
    # allocated = its dotations, fonds = its contributions to the fonds de la cité; what
    # is committed, paid or frozen of them does not change what was given.
    a, b = uuid4(), uuid4()
    await service.s.publish(
        labelled_in("cite-001", REAL), allocated("cite-001", a, 120_000_00),
        allocated("cite-001", b, 30_000_00),  # a second, manual allocation
        fonds("cite-001", 2025, 15_000_00, 15_000_00), fonds("cite-001", 2025, 1_00, 0),
        committed("cite-001", a, 50_000_00), paid("cite-001", a, 10_000_00),
        frozen("cite-001", (b, 30_000_00)))
    statement = {(2025, "P147"): {"allocated": 150_000_00, "fonds": 15_001_00},
                 (2025, "P230"): {"allocated": 0, "fonds": 15_000_00}}

    [cite] = (await service.open_data()).json()

    [year] = cite["annees"]
    assert year["annee"] == 2025
    assert Decimal(str(year["dotation_p147"])) * 100 == statement[2025, "P147"]["allocated"]
    assert Decimal(str(year["dotation_p230"])) * 100 == statement[2025, "P230"]["allocated"]
    assert Decimal(str(year["fonds_de_la_cite"])) * 100 == sum(
        line["fonds"] for line in statement.values())


@pytest.mark.parametrize(("events", "statut"), [
    ((), "labellisée"), ((suspended,), "suspendue"), ((withdrawn,), "retirée"),
    ((expired,), "expirée")])
async def test_a_status_is_said_in_french(service: Dashboard, events: tuple[Any, ...],
                                         statut: str) -> None:
    await service.s.publish(labelled_in("cite-001", REAL), *(e("cite-001") for e in events))

    [cite] = (await service.open_data()).json()
    [row] = list(csv.DictReader(io.StringIO((await service.open_data("csv")).text)))

    assert cite["statut"] == row["statut"] == statut


async def test_renewal_extension_and_a_new_chef_de_file_are_published(
        service: Dashboard) -> None:
    label = labelled_in("cite-001", REAL, schools=[
        {"uai": "0690002B", "kind": "college", "name": "Collège Elsa Triolet",
         "education_priority": "rep"}])
    wider = label.perimeter.model_dump(mode="json")
    wider["communes"].append({"insee_code": "69259", "name": "Vénissieux"})
    await service.s.publish(label, alliance_opened("cite-001"), renewed("cite-001", RENEWAL),
                            extended("cite-001", wider), chef_designated("cite-001", "0690002B"))

    [cite] = (await service.open_data()).json()
    [row] = list(csv.DictReader(io.StringIO((await service.open_data("csv")).text)))

    assert (cite["debut_label"], cite["fin_label"]) == ("2028-01-01", "2030-12-31")
    assert cite["periodes_label"] == [{"debut": "2025-01-01", "fin": "2027-12-31"},
                                      {"debut": "2028-01-01", "fin": "2030-12-31"}]
    assert cite["communes"] == [{"code_insee": "69010", "nom": "Bondy"},
                                {"code_insee": "69259", "nom": "Vénissieux"}]
    assert cite["college_chef_de_file"] == {"uai": "0690002B", "nom": "Collège Elsa Triolet"}
    assert {k: row[k] for k in ("debut_label", "fin_label", "periodes_label", "codes_communes",
                                "noms_communes", "uai_college_chef_de_file",
                                "nom_college_chef_de_file")} == {
        "debut_label": "2028-01-01", "fin_label": "2030-12-31",
        "periodes_label": "2025-01-01/2027-12-31;2028-01-01/2030-12-31",
        "codes_communes": "69010;69259", "noms_communes": "Bondy;Vénissieux",
        "uai_college_chef_de_file": "0690002B",
        "nom_college_chef_de_file": "Collège Elsa Triolet"}


async def test_a_renewal_moving_the_perimeter_to_the_2024_list_is_published(
        service: Dashboard) -> None:
    label = labelled_in("cite-001", REAL)
    moved = label.perimeter.model_dump(mode="json")
    moved["qpv_list"] = "2024"
    moved["qpvs"] = [{"code": "QN06907C", "name": "Grande Île", "population": 5300}]
    await service.s.publish(label, renewed("cite-001", RENEWAL).model_copy(update={
        "perimeter": Perimeter.model_validate(moved)}))

    [cite] = (await service.open_data()).json()

    assert cite["qpv"] == [{"code": "QN06907C", "nom": "Grande Île"}]
    assert cite["periodes_label"][-1] == {"debut": "2028-01-01", "fin": "2030-12-31"}


async def test_the_csv_has_one_row_per_cite_and_year_in_utf8_comma_separated_rfc4180(
        service: Dashboard) -> None:
    await service.s.publish(
        labelled_in("cite-001", REAL, name='Cité « Nord », dite "la Butte"'),
        labelled_in("cite-002", REAL), labelled_in("cite-003", TEST),
        allocated("cite-001", uuid4(), 250_000_00), fonds("cite-001", 2025, 15_000_00, 15_000_00),
        allocated("cite-001", uuid4(), 250_000_00, year=2026))

    r = await service.open_data("csv")

    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.content.decode("utf-8").startswith("code_cite,nom_cite,departement,")
    assert r.content.split(b"\r\n")[1].startswith(
        'cite-001,"Cité « Nord », dite ""la Butte""",69,Rhône,'.encode())
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(row["code_cite"], row["annee"], *(row[k] for k in MONEY_COLUMNS))
            for row in rows] == [("cite-001", "2025", "250000.00", "0.00", "30000.00"),
                                 ("cite-001", "2026", "250000.00", "0.00", "0.00"),
                                 ("cite-002", "", "", "", "")]
    assert rows[2] | {"code_cite": "cite-001", "nom_cite": "Cité éducative cite-001"} \
        == rows[1] | {k: "" for k in ("annee", *MONEY_COLUMNS)} | {
            "nom_cite": "Cité éducative cite-001"}


async def test_the_csv_neutralises_what_a_spreadsheet_would_run_as_a_formula(
        service: Dashboard) -> None:
    # OWASP "CSV injection": a cell starting with = + - @ (or tab, CR) is a formula to a
    # spreadsheet; it is exported with a leading ' so it stays text. JSON keeps the name.
    names = ['=HYPERLINK("http://evil.example","Cliquez")', "+33 Quartiers", "-Nord", "@SUM(A1)"]
    await service.s.publish(*(labelled_in(f"cite-00{n}", REAL, name=name)
                              for n, name in enumerate(names, start=1)))

    rows = list(csv.DictReader(io.StringIO((await service.open_data("csv")).text)))
    as_json = (await service.open_data()).json()

    assert [r["nom_cite"] for r in rows] == [f"'{name}" for name in names]
    assert [c["nom_cite"] for c in as_json] == names


# --- the schema ------------------------------------------------------------------------

def _holds(field: dict[str, Any], value: str) -> bool:
    """Whether a CSV cell holds to its Table Schema field: missing only if not required;
    its type (string, integer, number, date in ISO format); its pattern, enum, minimum."""
    rules = field.get("constraints", {})
    if value == "":
        return not rules.get("required", False)
    typed: Any = value
    match field["type"]:
        case "integer":
            if not re.fullmatch(r"-?[0-9]+", value):
                return False
            typed = int(value)
        case "number":
            if not re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", value):
                return False
            typed = Decimal(value)
        case "date":
            try:
                date.fromisoformat(value)
            except ValueError:
                return False
        case "string":
            pass
        case other:
            raise AssertionError(f"a type this check does not know: {other}")
    return (("pattern" not in rules or re.fullmatch(rules["pattern"], value) is not None)
            and ("enum" not in rules or value in rules["enum"])
            and ("minimum" not in rules or typed >= rules["minimum"]))


def _flat(cite: dict[str, Any]) -> set[str]:
    """The CSV columns a JSON cité's fields become."""
    columns = {"communes": {"codes_communes", "noms_communes"}, "qpv": {"codes_qpv", "noms_qpv"},
               "college_chef_de_file": {"uai_college_chef_de_file", "nom_college_chef_de_file"},
               "annees": {"annee", *MONEY_COLUMNS}}
    return set().union(*(columns.get(k, {k}) for k in cite))


async def test_the_schema_declares_every_column_and_every_value_holds_to_it(
        service: Dashboard) -> None:
    label = labelled_in("cite-001", REAL, schools=[
        {"uai": "0690002B", "kind": "college", "name": "Collège Elsa Triolet",
         "education_priority": "rep"}])
    await service.s.publish(
        label, labelled_in("cite-002", REAL, departement="974", perimeter=REUNION,
                                         lead_college_uai="9740002A"),
        labelled_in("cite-003", REAL, departement="2A"), alliance_opened("cite-001"),
        chef_designated("cite-002", "9740001Z"),  # not of its perimeter: no name
        renewed("cite-001", RENEWAL), suspended("cite-003"),
        allocated("cite-001", uuid4(), 250_000_99), fonds("cite-001", 2025, 15_000_00, 15_000_00),
        allocated("cite-003", uuid4(), 100_000_00, programme="P230", year=2026))

    schema = await service.s.http.get("/opendata/schema.json")
    table = list(csv.reader(io.StringIO((await service.open_data("csv")).text)))
    as_json = (await service.open_data()).json()

    assert schema.status_code == 200
    fields = schema.json()["fields"]
    assert all(f["title"] and f["description"] for f in fields)
    header, rows = table[0], table[1:]
    assert header == [f["name"] for f in fields]
    assert [r[0] for r in rows] == ["cite-001", "cite-002", "cite-003"]
    broken = [(n, f["name"], v) for n, row in enumerate(rows) for f, v in zip(fields, row,
                                                                              strict=True)
              if not _holds(f, v)]
    assert broken == []
    assert all(_flat(c) == set(header) for c in as_json)
    [statut] = [f for f in fields if f["name"] == "statut"]
    assert statut["constraints"]["enum"] == ["labellisée", "suspendue", "retirée", "expirée"]
    assert {c["statut"] for c in as_json} <= set(statut["constraints"]["enum"])
    reunion = next(c for c in as_json if c["code_cite"] == "cite-002")
    assert (reunion["nom_departement"], reunion["region"], reunion["academie"]) \
        == ("La Réunion", "La Réunion", "La Réunion")
    assert reunion["college_chef_de_file"] == {"uai": "9740001Z", "nom": None}


# --- a public endpoint -------------------------------------------------------------------

async def test_the_open_data_is_cached_and_answers_304_to_what_the_reader_has(
        service: Dashboard, clock: FakeClock) -> None:
    await service.s.publish(labelled_in("cite-001", REAL))

    first = await service.open_data("csv")
    clock.advance(hours=1)
    again = await service.open_data("csv", **{"If-None-Match": first.headers["etag"]})
    await service.s.publish(suspended("cite-001"))
    changed = await service.open_data("csv", **{"If-None-Match": first.headers["etag"]})

    assert first.status_code == 200
    assert first.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert first.headers["access-control-allow-origin"] == "*"
    assert first.headers["last-modified"].endswith(" GMT")
    assert (again.status_code, again.content) == (304, b"")
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["last-modified"] == first.headers["last-modified"]  # same content
    assert changed.status_code == 200
    assert changed.headers["last-modified"] == format_datetime(clock(), usegmt=True)
    assert changed.headers["etag"] != first.headers["etag"]
    assert "suspendue" in changed.text


async def test_within_its_cache_time_the_open_data_is_answered_from_its_last_copy(
        settings: DashboardSettings) -> None:
    cached = settings.model_copy(update={"opendata_cache_s": 3600.0})
    async with in_memory(definition, cached) as running:
        service = Dashboard(running)
        await running.publish(labelled_in("cite-001", REAL))
        first = (await service.open_data()).json()
        await running.publish(labelled_in("cite-002", REAL))
        second = await service.open_data()

    assert [c["code_cite"] for c in first] == ["cite-001"]
    assert [c["code_cite"] for c in second.json()] == ["cite-001"]
    assert second.headers["cache-control"] == "public, max-age=3600"


async def test_the_summary_names_waves_by_title_and_marks_test_waves(service: Dashboard
                                                                      ) -> None:
    await service.s.publish(labelled_in("cite-001", REAL), labelled_in("cite-002", TEST),
                            labelled("cite-003", wave="2021"))

    waves = (await service.summary())["waves"]

    assert [(w["wave_id"], w["title"], w["test"], w["cites"]) for w in waves] == [
        ("2019", "Vague 2019 (préfiguration)", False, {"labelled": 1}),
        ("2021", None, False, {"labelled": 1}),
        ("2026-formation", "Formation des préfectures", True, {"labelled": 1})]


async def test_a_wave_once_told_a_test_wave_stays_one(service: Dashboard) -> None:
    # An event written before waves carried the flag says false: it never makes a test
    # wave's cités public.
    await service.s.publish(labelled_in("cite-001", TEST),
                            labelled_in("cite-002", Wave(id=TEST.id, year=TEST.year)))

    assert (await service.open_data()).json() == []
