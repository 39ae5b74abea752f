"""The partners domain: pure rules, no I/O. Commands change their aggregate in place and
return the events they cause; factories return the new aggregate and its event; refusals
are the runtime's :mod:`cites_runtime.errors`."""

from .alliance import (
    Alliance,
    AllianceStatus,
    LabelLife,
    Member,
    ensure_can_lead,
    lead_college,
)
from .chef_de_projet import ChefDeProjetPost, Tenure
from .registry import (
    COLLECTIVITES,
    SCHOOLS,
    Contact,
    ContactChange,
    ContactDetails,
    Identity,
    Partner,
    PartnerDetails,
    can_lead,
    consenting,
    ensure_identifiers_free,
    the_same_partner,
)

__all__ = [
    "COLLECTIVITES",
    "SCHOOLS",
    "Alliance",
    "AllianceStatus",
    "ChefDeProjetPost",
    "Contact",
    "ContactChange",
    "ContactDetails",
    "Identity",
    "LabelLife",
    "Member",
    "Partner",
    "PartnerDetails",
    "Tenure",
    "can_lead",
    "consenting",
    "ensure_can_lead",
    "ensure_identifiers_free",
    "lead_college",
    "the_same_partner",
]
