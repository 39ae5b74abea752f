"""What can go wrong in the partners domain, by the answer it deserves.

The HTTP layer maps each family to a status (404, 409, 422, 403); the consumer turns any
of them into a dead letter, since a labelling event that breaks a rule will not apply
until an operator changes something.
"""

from __future__ import annotations

__all__ = [
    "Conflict",
    "DomainError",
    "NotAllowed",
    "NotFound",
    "RuleBroken",
]


class DomainError(Exception):
    """A business rule said no. ``message`` tells what to do about it."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """The partner, contact, alliance or membership named does not exist."""


class Conflict(DomainError):
    """The request is valid but the current state forbids it (e.g. a closed alliance)."""


class RuleBroken(DomainError):
    """A field breaks a rule of the programme; ``field`` and ``rule`` name them."""

    def __init__(self, field: str, rule: str, message: str):
        super().__init__(message)
        self.field = field
        self.rule = rule


class NotAllowed(DomainError):
    """The actor may not act there (a préfecture outside its département)."""
