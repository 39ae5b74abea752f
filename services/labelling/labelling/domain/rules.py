"""Eligibility rules, as code, grouped in versioned rule sets chosen by the wave.

A wave names its rule set (``2019-v1``, ``2021-v1``, ``2024-v1``); a rule set is the list
of rules a candidature must meet to be submitted, and the window in which its cités' labels
may be renewed. Each rule checks one thing and, when it fails, says in words what the
dossier shows and what the rule set requires. A new wave with new rules gets a new rule
set here (never an edit of one a wave already uses).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from cites_contracts.types import EducationPriority, QpvList, SchoolKind, TroikaRole, qpv_list_of
from cites_runtime.errors import RuleFailure

from .dossier import Dossier, NpnruInterest
from .label import RenewalWindow

__all__ = ["PERIMETER_RULES", "RULE_SETS", "Rule", "RuleSet", "Subject", "rule_set"]


@dataclass(frozen=True, slots=True)
class Subject:
    """What the rules look at: the dossier, the territory it is filed in and the QPV list
    its wave's perimeters refer to."""

    dossier: Dossier
    departement: str
    qpv_list: QpvList = QpvList.LIST_2024


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    field: str
    requirement: str
    shortfall: Callable[[Subject], str | None]
    """What the dossier shows when the rule is not met, or None when it is."""


@dataclass(frozen=True, slots=True)
class RuleSet:
    version: str
    title: str
    rules: tuple[Rule, ...]
    renewal: RenewalWindow
    """When a label of the wave may be renewed, before its period ends."""

    def failures(self, subject: Subject, only: Collection[str] | None = None
                 ) -> list[RuleFailure]:
        """What the subject fails of this set's rules (of those named ``only``, if given)."""
        failed = []
        for rule in self.rules:
            if only is not None and rule.code not in only:
                continue
            shortfall = rule.shortfall(subject)
            if shortfall is not None:
                failed.append(RuleFailure(
                    rule=rule.code, field=rule.field,
                    message=f"{shortfall}; {self.title} require {rule.requirement}",
                ))
        return failed


def _n(number: int) -> str:
    return f"{number:,}".replace(",", " ")


# --- Rules of every rule set: a complete dossier, its troïka, a coherent perimeter ---------


def _empty(text: str) -> bool:
    return not text.strip()


def _diagnostic(s: Subject) -> str | None:
    return "the diagnostic is empty" if _empty(s.dossier.diagnostic) else None


def _objectives(s: Subject) -> str | None:
    o = s.dossier.objectives
    missing = [name for name, text in (("school_role", o.school_role),
                                       ("educational_continuity", o.educational_continuity),
                                       ("opportunities", o.opportunities)) if _empty(text)]
    return f"objective(s) not stated: {', '.join(missing)}" if missing else None


def _governance(s: Subject) -> str | None:
    return "the governance is not described" if _empty(s.dossier.governance) else None


def _action_plan(s: Subject) -> str | None:
    return "the action plan is empty" if _empty(s.dossier.action_plan) else None


def _troika(s: Subject) -> str | None:
    roles = {m.role for m in s.dossier.troika}
    missing = [name for name, ok in (
        ("préfet", TroikaRole.PREFET in roles),
        ("recteur", TroikaRole.RECTEUR in roles),
        ("maire or EPCI president",
         bool(roles & {TroikaRole.MAIRE, TroikaRole.PRESIDENT_EPCI})),
    ) if not ok]
    return f"the troïka lacks: {', '.join(missing)}" if missing else None


def _has(part: str, what: str) -> Callable[[Subject], str | None]:
    def shortfall(s: Subject) -> str | None:
        return None if getattr(s.dossier, part) else f"the perimeter lists no {what}"
    return shortfall


def _communes_in_departement(s: Subject) -> str | None:
    outside = [c.insee_code for c in s.dossier.communes if c.departement != s.departement]
    if not outside:
        return None
    return f"commune(s) {', '.join(outside)} lie outside département {s.departement}"


def _qpvs_in_departement(s: Subject) -> str | None:
    outside = [q.code for q in s.dossier.qpvs if q.departement != s.departement]
    if not outside:
        return None
    return f"QPV(s) {', '.join(outside)} lie outside département {s.departement}"


_LIST_FORMS = {QpvList.LIST_2015: "QP…", QpvList.LIST_2024: "QN…"}


def _qpvs_of_the_list(s: Subject) -> str | None:
    odd = [q.code for q in s.dossier.qpvs if qpv_list_of(q.code) is not s.qpv_list]
    if not odd:
        return None
    return (f"QPV(s) {', '.join(odd)} are not of the {s.qpv_list.value} list (codes "
            f"{_LIST_FORMS[s.qpv_list]}) the wave's perimeters refer to")


def _lead_college(s: Subject) -> str | None:
    uai = s.dossier.lead_college_uai
    if uai is None:
        return "no collège chef de file is designated"
    school = next((x for x in s.dossier.schools if x.uai == uai), None)
    if school is None:
        return f"the lead collège {uai} is not one of the perimeter's schools"
    if school.kind is not SchoolKind.COLLEGE:
        return f"the lead school {uai} is a {school.kind.value}, not a collège"
    return None


DOSSIER_RULES: tuple[Rule, ...] = (
    Rule("diagnostic_given", "diagnostic", "a diagnostic of the territory", _diagnostic),
    Rule("objectives_stated", "objectives",
         "the three mandatory objectives: strengthen the role of the school, promote "
         "educational continuity, open up opportunities", _objectives),
    Rule("governance_described", "governance", "a described governance", _governance),
    Rule("action_plan_given", "action_plan", "an action plan", _action_plan),
    Rule("troika_complete", "troika",
         "the préfet, the recteur and the maire or EPCI president as signatories",
         _troika),
    Rule("commune_listed", "communes", "at least one commune", _has("communes", "commune")),
    Rule("qpv_listed", "qpvs", "at least one QPV", _has("qpvs", "QPV")),
    Rule("school_listed", "schools", "at least one school", _has("schools", "school")),
    Rule("communes_in_departement", "communes", "every commune in the candidature's "
         "département", _communes_in_departement),
    Rule("qpvs_in_departement", "qpvs", "every QPV in the candidature's département",
         _qpvs_in_departement),
    Rule("qpvs_of_the_wave_list", "qpvs", "every QPV of the QPV list the wave's perimeters "
         "refer to", _qpvs_of_the_list),
    Rule("lead_college_in_perimeter", "lead_college_uai",
         "a collège of the perimeter designated chef de file for all its schools",
         _lead_college),
)

PERIMETER_RULES = frozenset({"commune_listed", "qpv_listed", "school_listed",
                             "communes_in_departement", "qpvs_in_departement",
                             "qpvs_of_the_wave_list", "lead_college_in_perimeter"})
"""What an imported record of the programme's past must still meet: a coherent perimeter.
Its eligibility (the dossier's texts, the wave's thresholds) was judged by the State then
and is not judged again."""


# --- Rules of the 2019 and 2021 waves --------------------------------------------------------


def _largest_qpv_over_5000(s: Subject) -> str | None:
    largest = max((q.population for q in s.dossier.qpvs), default=0)
    return None if largest > 5000 else f"the largest QPV has {_n(largest)} inhabitants"


def _qpvs_over_4000(s: Subject) -> str | None:
    total = sum(q.population for q in s.dossier.qpvs)
    return None if total > 4000 else f"the perimeter's QPVs total {_n(total)} inhabitants"


def _npnru(s: Subject) -> str | None:
    return "no NPNRU project" if s.dossier.npnru_project is NpnruInterest.NONE else None


def _reconquest_zone(s: Subject) -> str | None:
    return None if s.dossier.reconquest_zone else "the territory is neither a QRR nor a ZSP"


def _rep_plus_college(s: Subject) -> str | None:
    found = any(x.kind is SchoolKind.COLLEGE and
                x.education_priority is EducationPriority.REP_PLUS for x in s.dossier.schools)
    return None if found else "no collège of the perimeter is REP+"


def _rep_school(s: Subject) -> str | None:
    found = any(x.education_priority is not EducationPriority.HORS_REP
                for x in s.dossier.schools)
    return None if found else "no school of the perimeter is REP or REP+"


LAST_YEAR = RenewalWindow(months=12)
"""Renewal in the last 12 months of a period: the 2022 cités (labelled to the end of 2024)
re-applied at the end of 2024 and were renewed for 2025–2027."""

RULE_SETS: Mapping[str, RuleSet] = {
    rs.version: rs
    for rs in (
        RuleSet("2019-v1", "the 2019 rules (2019-v1)", (
            *DOSSIER_RULES,
            Rule("qpv_over_5000", "qpvs", "a QPV of more than 5 000 inhabitants",
                 _largest_qpv_over_5000),
            Rule("npnru_project", "npnru_project", "a national urban-renewal project (NPNRU)",
                 _npnru),
            Rule("reconquest_zone", "reconquest_zone",
                 "a reconquest zone (QRR) or priority security zone (ZSP)", _reconquest_zone),
            Rule("rep_plus_college", "schools", "at least one REP+ collège", _rep_plus_college),
        ), LAST_YEAR),
        RuleSet("2021-v1", "the 2021 rules (2021-v1)", (
            *DOSSIER_RULES,
            Rule("qpv_population_over_4000", "qpvs",
                 "QPVs totalling more than 4 000 inhabitants", _qpvs_over_4000),
            Rule("rep_school", "schools", "a REP or REP+ school", _rep_school),
            Rule("npnru_project", "npnru_project",
                 "an NPNRU project of national or regional interest", _npnru),
            Rule("reconquest_zone", "reconquest_zone",
                 "a reconquest zone (QRR) or priority security zone (ZSP)", _reconquest_zone),
        ), LAST_YEAR),
        # Généralisation: at least one QPV and a collège chef de file for all the schools
        # (qpv_listed and lead_college_in_perimeter, in every set); REP no longer required.
        RuleSet("2024-v1", "the 2024 rules (2024-v1)", DOSSIER_RULES, LAST_YEAR),
    )
}


def rule_set(version: str) -> RuleSet:
    """The rule set ``version``; KeyError names the known ones."""
    try:
        return RULE_SETS[version]
    except KeyError:
        raise KeyError(f"unknown rule set {version!r}; known: {', '.join(RULE_SETS)}") from None
