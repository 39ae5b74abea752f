"""The simulated programme: valid codes (as the contracts and the administrations check
them), the same programme for the same seed, codes the platform holds avoided."""

from __future__ import annotations

from collections import Counter

import pytest
from pydantic import TypeAdapter

from cites_contracts.types import InseeCode, QpvCode, Siret, Uai, departement_of, qpv_departement
from cites_sim.codes import UAI_LETTERS, qpv_code, uai, uai_check_letter
from cites_sim.communes import COMMUNES
from cites_sim.generator import WAVES, generate

INSEE, QPV, UAI, SIRET = (TypeAdapter(t) for t in (InseeCode, QpvCode, Uai, Siret))


def test_uai_check_letters_are_the_rne_s() -> None:
    # Lycée Louis-le-Grand, Paris: 0750654D (750654 = 23 × 32637 + 3 → the 4th letter).
    assert uai_check_letter("0750654") == "D"
    assert uai_check_letter("0751234") == UAI_LETTERS[751234 % 23] == "J"
    assert uai("75", 1234) == "0751234J"
    assert uai("2A", 1).startswith("620") and uai("976", 1).startswith("976")
    with pytest.raises(ValueError, match="7 digits"):
        uai_check_letter("075123")


def test_qpv_codes_are_the_2024_format_of_their_departement() -> None:
    for dept, order in (("69", 0), ("2A", 125), ("976", 2599)):
        code = QPV.validate_python(qpv_code(dept, order))
        assert qpv_departement(code) == dept
    assert len({qpv_code("93", n) for n in range(2600)}) == 2600


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
    assert len(small.territories) == 20 and len(big.territories) == 2000
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
