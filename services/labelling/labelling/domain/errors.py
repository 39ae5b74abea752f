"""What the domain says when it refuses a command; the API maps each to one HTTP status."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Conflict",
    "DomainError",
    "Forbidden",
    "Ineligible",
    "NotFound",
    "RuleBroken",
    "RuleFailure",
]


class DomainError(Exception):
    """A business rule refuses the command; nothing is changed."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """The command names a wave, candidature or cité that does not exist (HTTP 404)."""

    def __init__(self, what: str, key: object):
        super().__init__(f"{what} {key} does not exist")


class Conflict(DomainError):
    """The command does not fit the current state (HTTP 409): wrong status, a contradicting
    decision, a closed wave."""


class Forbidden(DomainError):
    """The actor may not act on this one (HTTP 403), e.g. a préfecture elsewhere."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleFailure:
    """One broken rule: its code, the input field it concerns, and what is wrong, in words."""

    rule: str
    field: str
    message: str


class RuleBroken(DomainError):
    """Input breaks one or more rules (HTTP 422, each failure naming field and rule)."""

    def __init__(self, failures: list[RuleFailure] | RuleFailure, summary: str = ""):
        self.failures = failures if isinstance(failures, list) else [failures]
        super().__init__(summary or "; ".join(f.message for f in self.failures))

    @classmethod
    def of(cls, field: str, rule: str, message: str) -> RuleBroken:
        return cls(RuleFailure(rule=rule, field=field, message=message))


class Ineligible(RuleBroken):
    """A candidature fails its wave's eligibility rules: every failed rule is listed."""

    def __init__(self, rule_set: str, failures: list[RuleFailure]):
        self.rule_set = rule_set
        super().__init__(
            failures,
            f"the candidature does not meet {len(failures)} rule(s) of rule set {rule_set}",
        )
