"""The labelling domain's own refusals: an ineligible candidature, a renewal outside its
window. The other refusals are the runtime's (:mod:`cites_runtime.errors`: NotFound,
Forbidden, Conflict, RuleBroken)."""

from __future__ import annotations

from datetime import date
from typing import Any

from cites_runtime.errors import RuleBroken, RuleFailure

__all__ = ["Ineligible", "RenewalOutsideWindow"]


class Ineligible(RuleBroken):
    """A candidature fails its wave's eligibility rules: every failed rule is listed, the
    fields located in the dossier (HTTP 422 with the rule set and a summary)."""

    location = "dossier"

    def __init__(self, rule_set: str, failures: list[RuleFailure]):
        self.rule_set = rule_set
        super().__init__(
            failures,
            f"the candidature does not meet {len(failures)} rule(s) of rule set {rule_set}",
        )

    def body(self) -> dict[str, Any]:
        return {**super().body(), "rule_set": self.rule_set, "message": self.message}


class RenewalOutsideWindow(RuleBroken):
    """A label renewed outside its renewal window (HTTP 422 located at the label's period,
    the window's dates in the body as ``renewal_window``)."""

    location = "label"

    def __init__(self, message: str, opens_on: date, closes_on: date):
        self.opens_on, self.closes_on = opens_on, closes_on
        super().__init__(RuleFailure(rule="renewal_window", field="label_period",
                                     message=message))

    def body(self) -> dict[str, Any]:
        return {**super().body(), "renewal_window": {"opens_on": self.opens_on.isoformat(),
                                                     "closes_on": self.closes_on.isoformat()}}
