"""The labelling domain: pure rules and state machines, no I/O; refusals are DomainErrors.

- :mod:`.waves` — waves as data: rule-set version, filing window or rolling, review grid.
- :mod:`.rules` — the eligibility rule sets, each rule saying its failure in words.
- :mod:`.dossier` — what a candidature says about its territory.
- :mod:`.candidature` — draft → submitted → under review → labelled | rejected | withdrawn.
- :mod:`.label` — the cité's label: period, renewal, extension, suspension, end.
"""

from .actor import Actor
from .candidature import Candidature, CandidatureStatus, Decision, Outcome, Score
from .dossier import CandidatureIn, Dossier, PerimeterAdditionIn
from .errors import Conflict, DomainError, Forbidden, Ineligible, NotFound, RuleBroken, RuleFailure
from .label import HistoryEntry, Label, LabelEvent, LabelStatus, first_period, next_period
from .rules import RULE_SETS, RuleSet
from .waves import CRITERIA_2019, CRITERIA_2024, FilingWindow, Wave, WaveStatus

__all__ = [
    "CRITERIA_2019",
    "CRITERIA_2024",
    "RULE_SETS",
    "Actor",
    "Candidature",
    "CandidatureIn",
    "CandidatureStatus",
    "Conflict",
    "Decision",
    "DomainError",
    "Dossier",
    "FilingWindow",
    "Forbidden",
    "HistoryEntry",
    "Ineligible",
    "Label",
    "LabelEvent",
    "LabelStatus",
    "NotFound",
    "Outcome",
    "PerimeterAdditionIn",
    "RuleBroken",
    "RuleFailure",
    "RuleSet",
    "Score",
    "Wave",
    "WaveStatus",
    "first_period",
    "next_period",
]
