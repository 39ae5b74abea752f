"""Exclusive perimeters (pure domain): a QPV belongs to at most one active cité or pending
candidature, a collège is chef de file of at most one; communes are shared."""

from __future__ import annotations

from uuid import UUID

import pytest
from labelling.domain.holdings import Claim, Held, Holder, Holding, refuse_taken
from labelling_kit import commune, draft, qpv

from cites_runtime.errors import Conflict

PENDING = UUID("5f0c1a2e-0000-4000-8000-000000000001")


def held(kind: Held, code: str, *, cite: str | None = None,
         candidature: UUID | None = None) -> Holding:
    return Holding(Claim(kind, code), Holder(candidature_id=candidature, cite_id=cite))


def test_a_candidature_claims_its_qpvs_and_its_lead_college_not_its_communes() -> None:
    c = draft(qpvs=[qpv("QN06907B"), qpv("QN06901M")],
              communes=[commune(), commune("69259", "Vénissieux")])
    assert c.claims() == [Claim(Held.LEAD_COLLEGE, "0691234A"), Claim(Held.QPV, "QN06901M"),
                          Claim(Held.QPV, "QN06907B")]


def test_a_draft_without_a_lead_college_claims_only_its_qpvs() -> None:
    assert draft(lead_college_uai=None).claims() == [Claim(Held.QPV, "QN06901M")]


def test_nothing_taken_refuses_nothing() -> None:
    refuse_taken([])


def test_an_overlap_names_the_qpvs_and_the_cite_that_holds_them() -> None:
    with pytest.raises(Conflict) as refused:
        refuse_taken([held(Held.QPV, "QN06901M", cite="cite-001"),
                      held(Held.QPV, "QN06907B", cite="cite-001")])
    assert refused.value.message == (
        "QPVs QN06901M, QN06907B already belong to cité cite-001 (a QPV belongs to at most "
        "one active cité or pending candidature)")


def test_an_overlap_with_a_pending_candidature_names_the_candidature() -> None:
    with pytest.raises(Conflict) as refused:
        refuse_taken([held(Held.QPV, "QN06901M", candidature=PENDING),
                      held(Held.QPV, "QN06907B", cite="cite-004")])
    assert refused.value.message == (
        "QPV QN06907B already belongs to cité cite-004; QPV QN06901M already belongs to "
        f"pending candidature {PENDING} (a QPV belongs to at most one active cité or pending "
        "candidature)")


def test_a_lead_college_held_elsewhere_names_the_uai_and_its_cite() -> None:
    with pytest.raises(Conflict) as refused:
        refuse_taken([held(Held.LEAD_COLLEGE, "0691234A", cite="cite-001")])
    assert refused.value.message == (
        "collège 0691234A is already chef de file of cité cite-001 (a collège is chef de "
        "file of at most one active cité or pending candidature)")


def test_both_rules_broken_are_said_at_once() -> None:
    with pytest.raises(Conflict) as refused:
        refuse_taken([held(Held.LEAD_COLLEGE, "0691234A", candidature=PENDING),
                      held(Held.QPV, "QN06901M", cite="cite-001")])
    assert refused.value.message == (
        "QPV QN06901M already belongs to cité cite-001; collège 0691234A is already chef de "
        f"file of pending candidature {PENDING} (a QPV belongs to at most one active cité or "
        "pending candidature; a collège is chef de file of at most one active cité or pending "
        "candidature)")
