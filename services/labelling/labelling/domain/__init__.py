"""The labelling domain: pure rules and state machines, no I/O. Commands take the acting
:class:`~cites_runtime.actor.Actor` and the time, and return the events they cause;
refusals are :mod:`cites_runtime.errors` (and :class:`Ineligible`).

- :mod:`.waves` — waves as data: rule-set version, filing window or rolling, review grid.
- :mod:`.rules` — the eligibility rule sets, each rule saying its failure in words.
- :mod:`.dossier` — what a candidature says about its territory.
- :mod:`.candidature` — draft → submitted → under review → labelled | rejected | withdrawn.
- :mod:`.label` — the cité's label: periods, renewal window, extension, suspension, end.
- :mod:`.review` — the annual revue de projet: a year's campaign, each cité's review filled,
  validated by the troïka, submitted with the year's money, or overdue.
- :mod:`.holdings` — exclusive perimeters: a QPV, a lead collège, held by one cité or
  pending candidature at a time.
"""

from .candidature import Candidature, CandidatureStatus, Decision, Outcome, Score
from .dossier import Addition, Dossier
from .errors import Ineligible, RenewalOutsideWindow
from .label import (
    HistoryEntry,
    Label,
    LabelEvent,
    LabelStatus,
    LabelTerm,
    RenewalWindow,
    Term,
    first_period,
    next_period,
)
from .review import Campaign, Content, Money, Review, ReviewStatus
from .rules import RULE_SETS, RuleSet
from .waves import CRITERIA_2019, CRITERIA_2024, FilingWindow, Wave, WaveStatus

__all__ = [
    "CRITERIA_2019",
    "CRITERIA_2024",
    "RULE_SETS",
    "Addition",
    "Campaign",
    "Candidature",
    "CandidatureStatus",
    "Content",
    "Decision",
    "Dossier",
    "FilingWindow",
    "HistoryEntry",
    "Ineligible",
    "Label",
    "LabelEvent",
    "LabelStatus",
    "LabelTerm",
    "Money",
    "Outcome",
    "RenewalOutsideWindow",
    "RenewalWindow",
    "Review",
    "ReviewStatus",
    "RuleSet",
    "Score",
    "Term",
    "Wave",
    "WaveStatus",
    "first_period",
    "next_period",
]
