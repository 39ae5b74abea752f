"""Waves: when territories may file, which rules they must meet, how they are reviewed.

A wave is data (table ``waves``): its rule-set version selects the eligibility rules in
:mod:`.rules`; its review criteria are the grid the national coordination scores; its
filing is a window (``opens_on``–``closes_on``) or rolling (no deadline). The national
coordination plans, opens and closes waves. Closing ends filing only: review and
decisions on what was filed go on. A wave may be planned as a test wave (training,
acceptance): it runs like any other, and every event naming it says so. A wave's
perimeters refer to one QPV list (:class:`~cites_contracts.types.QpvList`): the 2015 list
for the 2019–2022 waves, the 2024 list for the généralisation and the waves planned since.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from cites_contracts.events.labelling import Wave as WaveRef
from cites_contracts.types import QpvList
from cites_runtime.errors import Conflict, RuleBroken

from .label import LabelTerm
from .rules import RULE_SETS, RuleSet

__all__ = ["CRITERIA_2019", "CRITERIA_2024", "FilingWindow", "Wave", "WaveStatus"]

CRITERIA_2019 = ("diagnostic_quality", "steering_strength", "indicator_precision")
"""The 2019 review grid: quality of the diagnostic, strength of steering, precise indicators."""

CRITERIA_2024 = ("perimeter", "diagnostic", "objectives", "governance", "steering",
                 "action_plan", "means", "identity", "quality_approach")
"""The 9 criteria of the généralisation (2024 onwards)."""


FROM_DECISION = LabelTerm(calendar=False)
"""Labels of whole years from their decision date."""


class WaveStatus(StrEnum):
    PLANNED = "planned"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class FilingWindow:
    opens_on: date
    closes_on: date

    def __post_init__(self) -> None:
        if self.closes_on < self.opens_on:
            raise RuleBroken.of("filing", "filing_window",
                                f"filing closes on {self.closes_on} before it opens on "
                                f"{self.opens_on}")

    def contains(self, day: date) -> bool:
        return self.opens_on <= day <= self.closes_on


@dataclass
class Wave:
    id: str
    year: int
    title: str
    rule_set: str
    filing: FilingWindow | None
    """None: rolling filing, no deadline."""
    review_criteria: tuple[str, ...]
    target_count: int
    status: WaveStatus = WaveStatus.PLANNED
    term: LabelTerm = FROM_DECISION
    """How its labels' periods are drawn from their decision dates: whole calendar years
    (the 2019–2022 waves) or whole years from the decision."""
    test: bool = False
    """A wave for trying the platform out (training, acceptance): its events say so, and
    its cités are never published as open data."""
    qpv_list: QpvList = QpvList.LIST_2024
    """The QPV list its perimeters refer to: every QPV of its candidatures is of it."""

    @classmethod
    def plan(cls, *, id: str, year: int, title: str, rule_set: str,
             filing: FilingWindow | None, review_criteria: tuple[str, ...],
             target_count: int, calendar_years: bool = False, test: bool = False,
             qpv_list: QpvList = QpvList.LIST_2024) -> Wave:
        """A new wave, not open yet. Refuses unknown rule sets and a malformed grid."""
        if rule_set not in RULE_SETS:
            raise RuleBroken.of("rule_set", "known_rule_set",
                                f"unknown rule set {rule_set!r}; known: {', '.join(RULE_SETS)}")
        if not review_criteria:
            raise RuleBroken.of("review_criteria", "criteria_given",
                                "a wave needs at least one review criterion")
        repeated = sorted({c for c in review_criteria if review_criteria.count(c) > 1})
        if repeated:
            raise RuleBroken.of("review_criteria", "criteria_unique",
                                f"review criteria listed twice: {', '.join(repeated)}")
        if target_count < 1:
            raise RuleBroken.of("target_count", "target_positive",
                                f"the target count must be at least 1, not {target_count}")
        return cls(id=id, year=year, title=title, rule_set=rule_set, filing=filing,
                   review_criteria=review_criteria, target_count=target_count,
                   term=LabelTerm(calendar=calendar_years), test=test, qpv_list=qpv_list)

    @property
    def rolling(self) -> bool:
        return self.filing is None

    @property
    def rules(self) -> RuleSet:
        return RULE_SETS[self.rule_set]

    def ref(self) -> WaveRef:
        """The wave as events name it."""
        return WaveRef(id=self.id, year=self.year, title=self.title, test=self.test)

    # -- the national coordination opens and closes ---------------------------------
    def open(self) -> bool:
        """Open filing; False when it already is (a repeat changes nothing)."""
        if self.status is WaveStatus.OPEN:
            return False
        if self.status is WaveStatus.CLOSED:
            raise Conflict(f"wave {self.id} is closed and cannot be reopened; plan a new wave")
        self.status = WaveStatus.OPEN
        return True

    def close(self) -> bool:
        """Close filing; False when it already is."""
        if self.status is WaveStatus.CLOSED:
            return False
        self.status = WaveStatus.CLOSED
        return True

    # -- what préfectures may do --------------------------------------------------------
    def ensure_accepts_drafts(self) -> None:
        if self.status is WaveStatus.CLOSED:
            raise Conflict(f"wave {self.id} is closed: no new candidature can be drafted for it")

    def ensure_accepts_filing(self, today: date) -> None:
        if self.status is not WaveStatus.OPEN:
            raise Conflict(f"wave {self.id} is {self.status.value}: candidatures can be "
                           "submitted only while it is open")
        if self.filing is not None and not self.filing.contains(today):
            raise Conflict(f"filing for wave {self.id} runs from {self.filing.opens_on} to "
                           f"{self.filing.closes_on}; today is {today}")
