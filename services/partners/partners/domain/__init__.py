"""The partners domain: pure rules, no I/O. Raises :class:`DomainError` subclasses."""

from .alliance import Alliance, AllianceStatus, Member, ensure_can_lead
from .errors import Conflict, DomainError, NotAllowed, NotFound, RuleBroken
from .registry import (
    KIND_LABELS,
    SCHOOLS,
    Contact,
    ContactDetails,
    Identity,
    Partner,
    PartnerDetails,
    consenting,
)

__all__ = [
    "KIND_LABELS",
    "SCHOOLS",
    "Alliance",
    "AllianceStatus",
    "Conflict",
    "Contact",
    "ContactDetails",
    "DomainError",
    "Identity",
    "Member",
    "NotAllowed",
    "NotFound",
    "Partner",
    "PartnerDetails",
    "RuleBroken",
    "consenting",
    "ensure_can_lead",
]
