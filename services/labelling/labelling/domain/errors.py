"""The labelling domain's own refusal: an ineligible candidature. The other refusals are
the runtime's (:mod:`cites_runtime.errors`: NotFound, Forbidden, Conflict, RuleBroken)."""

from __future__ import annotations

from typing import Any

from cites_runtime.errors import RuleBroken, RuleFailure

__all__ = ["Ineligible"]


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
