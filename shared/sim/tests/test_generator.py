"""The simulated programme: valid codes (as the contracts and the administrations check
them), the same programme for the same seed, codes the platform holds avoided."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from pydantic import TypeAdapter

from cites_contracts.types import (
    InseeCode,
    QpvCode,
    QpvList,
    Siret,
    Uai,
    departement_of,
    qpv_departement,
    qpv_list_of,
)
from cites_sim.codes import UAI_LETTERS, qpv_code, qpv_code_2015, uai, uai_check_letter
from cites_sim.communes import COMMUNES
from cites_sim.generator import ENDED_EVERY, WAVES, generate
from cites_sim.simulate import _history_of

INSEE, QPV, UAI, SIRET = (TypeAdapter(t) for t in (InseeCode, QpvCode, Uai, Siret))


def test_uai_check_letters_are_the_rne_s() -> None:
    # Lycée Louis-le-Grand, Paris: 0750654D (750654 = 23 × 32637 + 3 → the 4th letter).
    assert uai_check_letter("0750654") == "D"
    assert uai_check_letter("0751234") == UAI_LETTERS[751234 % 23] == "J"
    assert uai("75", 1234) == "0751234J"
    assert uai("2A", 1).startswith("620") and uai("976", 1).startswith("976")
    with pytest.raises(ValueError, match="7 digits"):
        uai_check_letter("075123")


def test_qpv_codes_are_the_2015_or_2024_format_of_their_departement() -> None:
    for dept, order in (("69", 0), ("2A", 125), ("976", 2599)):
        code = QPV.validate_python(qpv_code(dept, order))
        assert qpv_departement(code) == dept and qpv_list_of(code) is QpvList.LIST_2024
        old = QPV.validate_python(qpv_code_2015(dept, order % 1000))
        assert qpv_departement(old) == dept and qpv_list_of(old) is QpvList.LIST_2015
    assert len({qpv_code("93", n) for n in range(2600)}) == 2600
    assert len({qpv_code_2015("93", n) for n in range(1000)}) == 1000


def test_the_past_waves_are_on_the_2015_list_and_the_generalisation_on_the_2024_one() -> None:
    programme = generate(4, scale=0.25)
    for label, territories in programme.waves.items():
        wanted = QpvList.LIST_2015 if WAVES[label].imported else QpvList.LIST_2024
        assert {qpv_list_of(c) for t in territories for c, _, _ in t.qpvs} == {wanted}
    for code, _, _ in programme.extension_qpvs.values():
        assert qpv_list_of(code) is QpvList.LIST_2015  # extends a 2019 perimeter


def test_a_past_cite_s_record_holds_its_wave_s_real_dates() -> None:
    programme = generate(4, waves=["2022"], scale=0.25)
    renewed = next(t for t in programme.territories if t.renewed)
    ended = next(t for t in programme.territories if not t.renewed)
    record = renewed.record("r-2022", "r-2022-001")
    assert (record["decided_on"], record["filed_on"] <= "2021-09-30") == ("2022-01-20", True)
    assert [(r["filed_on"], r["decided_on"]) for r in record["renewals"]] == [
        ("2024-11-15", "2025-03-21")]
    assert ended.record("r-2022", "r-2022-002")["renewals"] == []
    assert len([t for t in programme.territories if not t.renewed]) == len(
        programme.territories) // ENDED_EVERY


@pytest.mark.parametrize(("label", "renewed", "years", "status"), [
    ("2019", True, list(range(2020, 2026)), "labelled"),  # re-applied in 2025: pending
    ("2019", False, [2020, 2021, 2022], "expired"),
    ("2021", True, list(range(2021, 2027)), "labelled"),
    ("2022", True, list(range(2022, 2027)), "labelled"),
    ("2022", False, [2022, 2023, 2024], "expired"),
])
def test_what_a_past_cite_is_today(label: str, renewed: bool, years: list[int],
                                   status: str) -> None:
    assert _history_of(WAVES[label], renewed, date(2026, 12, 7)) == (years, status)


def test_the_commune_fixture_is_valid_and_spans_the_departements() -> None:
    codes = [INSEE.validate_python(c) for c, _ in COMMUNES]
    assert len(set(codes)) == len(codes)
    departements = {departement_of(c) for c in codes}
    assert len(departements) >= 95 and {"2A", "2B", "971", "976"} <= departements


def test_every_generated_code_is_valid_and_in_its_territory_s_departement() -> None:
    programme = generate(11, scale=1.0, operations=2)
    territories = programme.territories
    assert [len(ts) for ts in programme.waves.values()] == [w.target for w in WAVES.values()]
    for t in territories:
        for insee, _ in t.communes:
            assert departement_of(INSEE.validate_python(insee)) == t.departement
        for code, _, _ in t.qpvs:
            assert qpv_departement(QPV.validate_python(code)) == t.departement
        assert t.qpvs[0][2] > 5000  # the 2019 rules: a QPV of more than 5,000 inhabitants
        for school in t.schools:
            digits = UAI.validate_python(school.uai)[:7]
            assert school.uai[7] == uai_check_letter(digits)
        assert t.lead.kind == "college" and t.lead.priority == "rep_plus"
        for op in t.operators:
            SIRET.validate_python(op.siret)
    qpvs = Counter(code for t in territories for code, _, _ in t.qpvs)
    assert max(qpvs.values()) == 1, "a QPV belongs to one cité"
    leads = Counter(t.lead.uai for t in territories)
    assert max(leads.values()) == 1, "a collège leads one cité"
    assert len({t.departement for t in territories}) > 80


def test_a_seed_gives_the_same_programme_and_another_seed_another() -> None:
    assert generate(5) == generate(5)
    assert generate(5).territories != generate(6).territories
    assert generate(5, salt="run-a").territories != generate(5, salt="run-b").territories


def test_scale_multiplies_the_cites_and_life_events_stay_distinct() -> None:
    small, big = generate(3, waves=["2019"], scale=0.25), generate(3, scale=10)
    assert len(small.territories) == 20 and len(big.territories) == 2400
    for p in (small, big):
        assert set(p.reinstated) < set(p.suspended)
        assert not set(p.suspended) & set(p.withdrawn)
        assert p.extended and p.withdrawn


def test_codes_the_platform_holds_are_avoided() -> None:
    first = generate(9, waves=["2019"])
    held_qpvs = {c for t in first.territories for c, _, _ in t.qpvs}
    held_uais = {s.uai for t in first.territories for s in t.schools}
    again = generate(9, waves=["2019"], taken_qpvs=held_qpvs, taken_uais=held_uais)
    assert not {c for t in again.territories for c, _, _ in t.qpvs} & held_qpvs
    assert not {s.uai for t in again.territories for s in t.schools} & held_uais


def test_only_departements_with_a_prefecture_are_drawn() -> None:
    programme = generate(1, waves=["2019"], departements=["69", "93"])
    assert {t.departement for t in programme.territories} == {"69", "93"}
