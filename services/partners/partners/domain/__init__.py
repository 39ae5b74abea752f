"""The partners domain: pure rules, no I/O. Commands return the events they cause; refusals
are the runtime's :mod:`cites_runtime.errors`."""

from .alliance import (
    Alliance,
    AllianceStatus,
    Member,
    can_lead,
    ensure_can_lead,
    ensure_leader_stays_a_college,
    no_alliance,
)
from .registry import (
    SCHOOLS,
    Contact,
    ContactChange,
    ContactDetails,
    Identity,
    Partner,
    PartnerDetails,
    consenting,
    ensure_identifiers_free,
    the_same_partner,
    unknown_contact,
    unknown_partner,
)

__all__ = [
    "SCHOOLS",
    "Alliance",
    "AllianceStatus",
    "Contact",
    "ContactChange",
    "ContactDetails",
    "Identity",
    "Member",
    "Partner",
    "PartnerDetails",
    "can_lead",
    "consenting",
    "ensure_can_lead",
    "ensure_identifiers_free",
    "ensure_leader_stays_a_college",
    "no_alliance",
    "the_same_partner",
    "unknown_contact",
    "unknown_partner",
]
