"""What a domain says when it refuses a command — one family for every service.

Pure (no I/O, no web framework): a service's domain raises these, or subclasses of them.
The HTTP edge (:mod:`cites_runtime.http`) answers each family with one status and one
body shape, the same in every service; a consumer handler that raises one has its event
dead-lettered at once with the message (:mod:`cites_runtime.consumer`).

======================  ======  ======================================================
class                   HTTP    body
======================  ======  ======================================================
:class:`NotFound`       404     ``{"detail": "<message>"}``
:class:`Forbidden`      403     ``{"detail": "<message>"}``
:class:`Conflict`       409     ``{"detail": "<message>"}``
:class:`RuleBroken`     422     ``{"detail": [{"loc": [<where>, <field>], "type": <rule>,
                                "msg": <message>}, ...]}`` — FastAPI's own shape
======================  ======  ======================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = [
    "Conflict",
    "DomainError",
    "EventTooLarge",
    "Forbidden",
    "NotFound",
    "RuleBroken",
    "RuleFailure",
]


class DomainError(Exception):
    """A business rule refuses the command; nothing is changed. ``message`` says why and,
    where it can, what to do about it."""

    status: ClassVar[int] = 409

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, Any]:
        """The JSON body answering this refusal over HTTP."""
        return {"detail": self.message}


class NotFound(DomainError):
    """The command names something that does not exist (HTTP 404)."""

    status = 404

    @classmethod
    def of(cls, what: str, key: object) -> NotFound:
        return cls(f"{what} {key} does not exist")


class Forbidden(DomainError):
    """The actor may not act on this one (HTTP 403), e.g. a préfecture elsewhere."""

    status = 403


class Conflict(DomainError):
    """The command does not fit the current state (HTTP 409): wrong status, a
    contradicting decision, a closed alliance."""

    status = 409


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleFailure:
    """One broken rule: its code, the input field it concerns, and what is wrong, in words."""

    rule: str
    field: str
    message: str


class RuleBroken(DomainError):
    """Input breaks one or more rules of the programme (HTTP 422, each failure naming its
    field and rule, in the shape of FastAPI's validation errors so clients read both alike).
    """

    status = 422
    location: ClassVar[str] = "body"
    """First element of each failure's ``loc``: where the fields live."""

    def __init__(self, failures: list[RuleFailure] | RuleFailure, summary: str = ""):
        self.failures = failures if isinstance(failures, list) else [failures]
        super().__init__(summary or "; ".join(f.message for f in self.failures))

    @classmethod
    def of(cls, field: str, rule: str, message: str) -> RuleBroken:
        return cls(RuleFailure(rule=rule, field=field, message=message))

    def body(self) -> dict[str, Any]:
        return {"detail": [{"loc": [self.location, f.field], "type": f.rule, "msg": f.message}
                           for f in self.failures]}


class EventTooLarge(RuleBroken):
    """The command would cause an event larger than the service publishes (HTTP 422,
    located at the event, not the body: the body may be fine, its consequence is not).
    Kafka refuses records over its limit for good; better refuse the command than park
    its event."""

    location = "event"

    def __init__(self, event_type: str, size: int, limit: int):
        super().__init__(RuleFailure(
            rule="event_too_large", field=event_type,
            message=f"this would publish a {event_type} of {size} bytes; events are limited "
                    f"to {limit} bytes: send less at once"))
