"""Exclusive perimeters: who holds a QPV, and which collège leads whom.

A QPV belongs to at most one *active* cité (labelled or suspended) or *pending*
candidature (submitted or under review); a collège is chef de file of at most one of them.
A candidature claims its QPVs and its lead collège when it is submitted; they pass to its
cité when it is labelled and are freed when it is rejected or withdrawn, or when the cité's
label is withdrawn or expires. A perimeter extension claims the QPVs it adds. Drafts hold
nothing. Communes are not held: a commune may have QPVs in several cités.

Holdings are kept by the store in one table whose primary key is what is held, written in
the transaction of the command that claims or frees them; this module only says what a
command claims and how a refusal reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from cites_runtime.errors import Conflict

__all__ = ["Claim", "Held", "Holder", "Holding", "claims", "refuse_taken"]


class Held(StrEnum):
    """What a cité or a pending candidature holds exclusively."""

    LEAD_COLLEGE = "lead_college"
    QPV = "qpv"


@dataclass(frozen=True, slots=True, order=True)
class Claim:
    kind: Held
    code: str
    """The QPV code, or the lead collège's UAI."""


@dataclass(frozen=True, slots=True)
class Holder:
    """A pending candidature or an active cité (exactly one of the two ids)."""

    candidature_id: UUID | None = None
    cite_id: str | None = None

    def __post_init__(self) -> None:
        if (self.candidature_id is None) == (self.cite_id is None):
            raise ValueError("a holder is a candidature or a cité")

    def __str__(self) -> str:
        if self.cite_id is not None:
            return f"cité {self.cite_id}"
        return f"pending candidature {self.candidature_id}"


@dataclass(frozen=True, slots=True)
class Holding:
    claim: Claim
    holder: Holder


def claims(qpv_codes: Iterable[str], lead_college_uai: str | None = None) -> list[Claim]:
    """The claims of a perimeter's QPVs and its lead collège, in one order for every
    claimant (lead collège first, then QPVs by code)."""
    found = [Claim(Held.QPV, code) for code in qpv_codes]
    if lead_college_uai is not None:
        found.append(Claim(Held.LEAD_COLLEGE, lead_college_uai))
    return sorted(set(found))


_RULES = {
    Held.QPV: "a QPV belongs to at most one active cité or pending candidature",
    Held.LEAD_COLLEGE: "a collège is chef de file of at most one active cité or pending "
                       "candidature",
}


def refuse_taken(taken: Sequence[Holding]) -> None:
    """Refuse (409) a command whose claims others hold, naming what and who; nothing when
    none is taken."""
    if not taken:
        return
    by_holder: dict[tuple[Held, Holder], list[str]] = {}
    for h in taken:
        by_holder.setdefault((h.claim.kind, h.holder), []).append(h.claim.code)
    parts = []
    # QPVs first, then the lead collège; cités before pending candidatures.
    for (kind, holder), codes in sorted(by_holder.items(), key=lambda item: (
            item[0][0] is not Held.QPV, item[0][1].cite_id is None, str(item[0][1]))):
        listed = ", ".join(sorted(codes))
        if kind is Held.QPV:
            parts.append(f"QPV{'s' if len(codes) > 1 else ''} {listed} already "
                         f"belong{'' if len(codes) > 1 else 's'} to {holder}")
        else:
            parts.append(f"collège {listed} is already chef de file of {holder}")
    rules = [_RULES[k] for k in (Held.QPV, Held.LEAD_COLLEGE)
             if any(h.claim.kind is k for h in taken)]
    raise Conflict(f"{'; '.join(parts)} ({'; '.join(rules)})")
