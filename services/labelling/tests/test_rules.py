"""Each wave's eligibility rules, accepting and refusing: pure domain, no I/O."""

from __future__ import annotations

from typing import Any

import pytest
from labelling.domain import RULE_SETS
from labelling.domain.rules import Subject
from labelling_kit import commune, dossier, qpv, school

from cites_runtime.errors import RuleFailure


def failures(rule_set: str, departement: str = "69", **overrides: Any) -> list[RuleFailure]:
    return RULE_SETS[rule_set].failures(Subject(dossier(**overrides), departement))


def failed_rules(rule_set: str, **overrides: Any) -> list[str]:
    return [f.rule for f in failures(rule_set, **overrides)]


@pytest.mark.parametrize("rule_set", ["2019-v1", "2021-v1", "2024-v1"])
def test_a_complete_dossier_meets_every_rule_set(rule_set: str) -> None:
    assert failures(rule_set) == []


# --- 2019 ------------------------------------------------------------------------------------


def test_a_2019_candidature_needs_a_qpv_of_more_than_5000_inhabitants() -> None:
    two_small = [qpv("QN06901M", 3000), qpv("QN06902A", 4500)]
    [failure] = failures("2019-v1", qpvs=two_small)
    assert failure.rule == "qpv_over_5000"
    assert failure.field == "qpvs"
    assert failure.message == ("the largest QPV has 4 500 inhabitants; the 2019 rules "
                               "(2019-v1) require a QPV of more than 5 000 inhabitants")


def test_a_2019_candidature_with_exactly_5000_inhabitants_is_refused() -> None:
    assert failed_rules("2019-v1", qpvs=[qpv(population=5000)]) == ["qpv_over_5000"]
    assert failed_rules("2019-v1", qpvs=[qpv(population=5001)]) == []


def test_a_2019_candidature_needs_an_npnru_project_and_a_reconquest_zone() -> None:
    assert failed_rules("2019-v1", npnru_project="none", reconquest_zone=False) == [
        "npnru_project", "reconquest_zone"]


def test_a_2019_candidature_needs_a_rep_plus_college_not_merely_a_rep_plus_school() -> None:
    schools = [school("0691234A", "college", "rep"), school("0695678B", "ecole", "rep_plus")]
    [failure] = failures("2019-v1", schools=schools)
    assert failure.rule == "rep_plus_college"
    assert "no collège of the perimeter is REP+" in failure.message


# --- 2021 ------------------------------------------------------------------------------------


def test_a_2021_candidature_is_refused_at_4000_inhabitants_or_fewer() -> None:
    [failure] = failures("2021-v1", qpvs=[qpv("QN06901M", 1800), qpv("QN06902A", 1400)])
    assert failure.rule == "qpv_population_over_4000"
    assert failure.message == ("the perimeter's QPVs total 3 200 inhabitants; the 2021 rules "
                               "(2021-v1) require QPVs totalling more than 4 000 inhabitants")


def test_a_2021_candidature_counts_the_population_of_all_its_qpvs() -> None:
    assert failures("2021-v1", qpvs=[qpv("QN06901M", 2500), qpv("QN06902A", 1501)]) == []


def test_a_2021_candidature_accepts_a_rep_school_where_2019_wanted_a_rep_plus_college() -> None:
    schools = [school("0691234A", "college", "hors_rep"), school("0695678B", "ecole", "rep")]
    assert failed_rules("2021-v1", schools=schools) == []
    assert failed_rules("2019-v1", schools=schools) == ["rep_plus_college"]


def test_a_2021_candidature_without_any_rep_school_is_refused() -> None:
    schools = [school("0691234A", "college", "hors_rep")]
    assert failed_rules("2021-v1", schools=schools) == ["rep_school"]


def test_a_2021_candidature_accepts_a_regional_npnru_but_not_none() -> None:
    assert failed_rules("2021-v1", npnru_project="regional") == []
    assert failed_rules("2021-v1", npnru_project="none") == ["npnru_project"]


# --- 2024 (généralisation) ------------------------------------------------------------------


def test_a_2024_candidature_needs_no_rep_school_no_npnru_and_no_reconquest_zone() -> None:
    small = dict(qpvs=[qpv(population=900)], schools=[school(priority="hors_rep")],
                 npnru_project="none", reconquest_zone=False)
    assert failures("2024-v1", **small) == []
    assert set(failed_rules("2021-v1", **small)) == {
        "qpv_population_over_4000", "rep_school", "npnru_project", "reconquest_zone"}


def test_a_2024_candidature_needs_at_least_one_qpv() -> None:
    [failure] = failures("2024-v1", qpvs=[])
    assert (failure.rule, failure.field) == ("qpv_listed", "qpvs")
    assert failure.message == ("the perimeter lists no QPV; the 2024 rules (2024-v1) require "
                               "at least one QPV")


def test_a_2024_candidature_needs_a_college_of_the_perimeter_as_chef_de_file() -> None:
    assert failed_rules("2024-v1", lead_college_uai=None) == ["lead_college_in_perimeter"]
    [elsewhere] = failures("2024-v1", lead_college_uai="0699999Z")
    assert "0699999Z is not one of the perimeter's schools" in elsewhere.message
    [an_ecole] = failures("2024-v1", lead_college_uai="0695678B")
    assert "is a ecole, not a collège" in an_ecole.message


# --- Rules of every rule set -----------------------------------------------------------------


@pytest.mark.parametrize("rule_set", ["2019-v1", "2021-v1", "2024-v1"])
def test_every_rule_set_reports_every_failure_at_once(rule_set: str) -> None:
    rules = failed_rules(rule_set, diagnostic="  ", governance="", action_plan="",
                         objectives={"school_role": "x"}, troika=[], communes=[],
                         schools=[], lead_college_uai=None)
    assert {"diagnostic_given", "objectives_stated", "governance_described", "action_plan_given",
            "troika_complete", "commune_listed", "school_listed",
            "lead_college_in_perimeter"} <= set(rules)


def test_the_troika_needs_prefet_recteur_and_maire_or_epci_president() -> None:
    epci = [{"role": "prefet", "email": "p@rhone.gouv.fr"},
            {"role": "recteur", "email": "r@ac-lyon.fr"},
            {"role": "president_epci", "email": "president@grandlyon.com"}]
    assert failures("2024-v1", troika=epci) == []
    [failure] = failures("2024-v1", troika=epci[1:])
    assert failure.message.startswith("the troïka lacks: préfet;")


def test_the_objectives_name_those_not_stated() -> None:
    [failure] = failures("2024-v1", objectives={"school_role": "Conforter l'école"})
    assert failure.message.startswith(
        "objective(s) not stated: educational_continuity, opportunities;")


def test_communes_and_qpvs_must_lie_in_the_candidature_departement() -> None:
    found = failures("2024-v1", communes=[commune(), commune("75056", "Paris")],
                     qpvs=[qpv(), qpv("QN07501M")])
    assert [(f.rule, f.field) for f in found] == [("communes_in_departement", "communes"),
                                                  ("qpvs_in_departement", "qpvs")]
    assert found[0].message.startswith("commune(s) 75056 lie outside département 69;")


def test_corsican_and_overseas_perimeters_are_in_their_departement() -> None:
    corse = failures("2024-v1", departement="2A", communes=[commune("2A004", "Ajaccio")],
                     qpvs=[qpv("QN02A01A")])
    mayotte = failures("2024-v1", departement="976", communes=[commune("97611", "Mamoudzou")],
                       qpvs=[qpv("QN97601B")])
    assert corse == mayotte == []
