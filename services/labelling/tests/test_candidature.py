"""The candidature's state machine: every allowed and forbidden transition (pure domain)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from uuid import uuid4

import pytest
from labelling.domain import (
    Candidature,
    CandidatureStatus,
    FilingWindow,
    Ineligible,
    Outcome,
    WaveStatus,
)
from labelling_kit import (
    NATIONAL,
    NOW,
    PREFECTURE_69,
    PREFECTURE_93,
    TODAY,
    dossier,
    draft,
    fully_scored,
    qpv,
    submitted,
    wave,
)

from cites_contracts.events.labelling import (
    CandidatureRejected,
    CandidatureReviewStarted,
    CandidatureSubmitted,
    CandidatureWithdrawn,
)
from cites_contracts.types import LabelPeriod
from cites_runtime.actor import Actor, Role, commune_actor
from cites_runtime.errors import Conflict, Forbidden, RuleBroken

PERIOD = LabelPeriod.of_years(TODAY, 3)


def label(c: Candidature, cite_id: str = "cite-007") -> None:
    c.label(wave=wave(), cite_id=cite_id, period=PERIOD, decided_on=TODAY,
            convention_signed_on=None, motive="Dossier solide", actor=NATIONAL, now=NOW)


# --- Drafting --------------------------------------------------------------------------------


def test_a_prefecture_drafts_only_in_its_own_departement() -> None:
    with pytest.raises(Forbidden, match="préfecture of 93 acts only in its own département, "
                       "and this concerns département 69"):
        Candidature.draft(id=uuid4(), wave=wave(), departement="69", dossier=dossier(),
                          actor=PREFECTURE_93, now=NOW)


def test_no_draft_for_a_closed_wave() -> None:
    with pytest.raises(Conflict, match="wave 2024-generalisation is closed"):
        draft(wave(status=WaveStatus.CLOSED))


def test_a_draft_may_be_incomplete_and_revised() -> None:
    c = draft(qpvs=[], diagnostic="")
    c.revise(wave=wave(), departement="69", dossier=dossier(), actor=PREFECTURE_69, now=NOW)
    assert c.status is CandidatureStatus.DRAFT
    assert c.dossier.qpvs[0].code == "QN06901M"


def test_a_draft_keeps_its_departement() -> None:
    c = draft()
    with pytest.raises(RuleBroken) as refused:
        c.revise(wave=wave(), departement="01", dossier=dossier(), actor=PREFECTURE_69, now=NOW)
    assert refused.value.failures[0].field == "departement"


def test_only_a_draft_can_be_revised() -> None:
    c = submitted()
    with pytest.raises(Conflict, match="is submitted: only a draft can be revised"):
        c.revise(wave=wave(), departement="69", dossier=dossier(), actor=PREFECTURE_69, now=NOW)


# --- Submission ------------------------------------------------------------------------------


def test_submitting_an_eligible_draft_announces_it() -> None:
    c = draft()
    event = c.submit(wave=wave(), actor=PREFECTURE_69, now=NOW, today=TODAY)
    assert isinstance(event, CandidatureSubmitted)
    assert c.status is CandidatureStatus.SUBMITTED
    assert event.lead_college_uai == "0691234A"
    assert [m.role.value for m in event.troika] == ["prefet", "recteur", "maire"]
    assert event.requested_annual_contribution == 25_000_000


def test_submitting_an_ineligible_draft_lists_every_failed_rule_and_changes_nothing() -> None:
    w = wave("2021-v1", id="2021")
    c = draft(w, qpvs=[qpv(population=3200)], npnru_project="none")
    with pytest.raises(Ineligible) as refused:
        c.submit(wave=w, actor=PREFECTURE_69, now=NOW, today=TODAY)
    assert refused.value.rule_set == "2021-v1"
    assert [f.rule for f in refused.value.failures] == ["qpv_population_over_4000",
                                                        "npnru_project"]
    assert c.status is CandidatureStatus.DRAFT
    assert c.submitted_at is None


def test_submitting_twice_is_a_no_op() -> None:
    c = submitted()
    assert c.submit(wave=wave(), actor=PREFECTURE_69, now=NOW, today=TODAY) is None


def test_submission_waits_for_the_wave_to_open_and_stops_when_it_closes() -> None:
    planned, closed = wave(status=WaveStatus.PLANNED), wave(status=WaveStatus.CLOSED)
    c = draft(planned)
    with pytest.raises(Conflict, match="is planned: candidatures can be submitted only while"):
        c.submit(wave=planned, actor=PREFECTURE_69, now=NOW, today=TODAY)
    with pytest.raises(Conflict, match="is closed"):
        c.submit(wave=closed, actor=PREFECTURE_69, now=NOW, today=TODAY)


def test_submission_respects_the_filing_window_both_ends_included() -> None:
    w = wave("2021-v1", id="2021", window=FilingWindow(date(2025, 1, 1), date(2025, 3, 10)))
    assert draft(w).submit(wave=w, actor=PREFECTURE_69, now=NOW, today=date(2025, 3, 10))
    with pytest.raises(Conflict, match="runs from 2025-01-01 to 2025-03-10; today is 2025-03-11"):
        draft(w).submit(wave=w, actor=PREFECTURE_69, now=NOW, today=date(2025, 3, 11))
    with pytest.raises(Conflict, match="today is 2024-12-31"):
        draft(w).submit(wave=w, actor=PREFECTURE_69, now=NOW, today=date(2024, 12, 31))


def test_a_rolling_wave_has_no_deadline() -> None:
    w = wave()
    assert draft(w).submit(wave=w, actor=PREFECTURE_69, now=NOW, today=date(2031, 7, 14))


def test_another_prefecture_cannot_submit() -> None:
    with pytest.raises(Forbidden):
        draft().submit(wave=wave(), actor=PREFECTURE_93, now=NOW, today=TODAY)


# --- Review ----------------------------------------------------------------------------------


def test_the_first_scores_open_the_review_once() -> None:
    c = submitted()
    first = c.score(wave=wave(), scores={"diagnostic": (4, "précis")}, actor=NATIONAL, now=NOW)
    again = c.score(wave=wave(), scores={"means": (2, "")}, actor=NATIONAL, now=NOW)
    assert isinstance(first, CandidatureReviewStarted)
    assert again is None
    assert c.status is CandidatureStatus.UNDER_REVIEW
    assert {k: s.score for k, s in c.scores.items()} == {"diagnostic": 4, "means": 2}


def test_only_the_wave_criteria_can_be_scored() -> None:
    c = submitted()
    with pytest.raises(RuleBroken, match="'indicator_precision' is not a review criterion") as e:
        c.score(wave=wave(), scores={"indicator_precision": (3, "")}, actor=NATIONAL, now=NOW)
    assert [(f.field, f.rule) for f in e.value.failures] == [("scores", "wave_criterion")]
    assert c.status is CandidatureStatus.SUBMITTED


def test_a_draft_cannot_be_scored() -> None:
    with pytest.raises(Conflict, match="is draft: only a submitted candidature can be scored"):
        draft().score(wave=wave(), scores={"means": (3, "")}, actor=NATIONAL, now=NOW)


# --- Decision --------------------------------------------------------------------------------


def test_labelling_makes_a_cite_and_repeating_it_is_a_no_op() -> None:
    c = fully_scored()
    label(c)
    assert c.status is CandidatureStatus.LABELLED
    assert c.cite_id == "cite-007"
    assert c.already_decided(Outcome.LABEL, wave()) is True


def test_a_contradicting_decision_is_refused() -> None:
    c = fully_scored()
    label(c)
    with pytest.raises(Conflict, match="already labelled as cite-007 on 2025-03-10"):
        c.already_decided(Outcome.REJECT, wave())


def test_a_rejection_reports_the_criteria_scored_below_the_pass_mark() -> None:
    w = wave()
    c = submitted()
    c.score(wave=w, scores={"diagnostic": (1, ""), "means": (2, ""), "identity": (3, "")},
            actor=NATIONAL, now=NOW)
    event = c.reject(wave=w, motive="Diagnostic trop général", decided_on=TODAY,
                     actor=NATIONAL, now=NOW)
    assert isinstance(event, CandidatureRejected)
    assert event.unmet_criteria == ("diagnostic", "means")
    assert c.already_decided(Outcome.REJECT, w) is True
    with pytest.raises(Conflict, match="already rejected"):
        c.already_decided(Outcome.LABEL, w)


def test_labelling_needs_every_criterion_scored() -> None:
    c = submitted()
    c.score(wave=wave(), scores={"diagnostic": (5, "")}, actor=NATIONAL, now=NOW)
    with pytest.raises(Conflict, match="missing: perimeter, objectives, governance"):
        label(c)


@pytest.mark.parametrize("outcome", list(Outcome))
def test_no_decision_before_the_review(outcome: Outcome) -> None:
    for c in (draft(), submitted()):
        with pytest.raises(Conflict, match="a decision needs a candidature under review"):
            c.already_decided(outcome, wave())


# --- Withdrawal ------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [submitted, fully_scored])
def test_a_filed_candidature_is_withdrawn_before_the_decision(
        make: Callable[[], Candidature]) -> None:
    c = make()
    event = c.withdraw(actor=PREFECTURE_69, motive="Périmètre à revoir", now=NOW)
    assert isinstance(event, CandidatureWithdrawn)
    assert c.status is CandidatureStatus.WITHDRAWN
    assert c.withdraw(actor=PREFECTURE_69, motive=None, now=NOW) is None  # repeat: no-op


def test_withdrawing_a_draft_announces_nothing() -> None:
    c = draft()
    assert c.withdraw(actor=PREFECTURE_69, motive=None, now=NOW) is None
    assert c.status is CandidatureStatus.WITHDRAWN


def test_a_decided_candidature_cannot_be_withdrawn() -> None:
    c = fully_scored()
    label(c)
    with pytest.raises(Conflict, match="is already labelled: only an undecided"):
        c.withdraw(actor=PREFECTURE_69, motive=None, now=NOW)


def test_a_withdrawn_candidature_can_be_neither_decided_nor_submitted() -> None:
    c = fully_scored()
    c.withdraw(actor=PREFECTURE_69, motive=None, now=NOW)
    with pytest.raises(Conflict, match="is withdrawn"):
        c.already_decided(Outcome.LABEL, wave())
    with pytest.raises(Conflict, match="only a draft can be submitted"):
        c.submit(wave=wave(), actor=PREFECTURE_69, now=NOW, today=TODAY)


def test_another_prefecture_cannot_withdraw() -> None:
    with pytest.raises(Forbidden):
        submitted().withdraw(actor=PREFECTURE_93, motive=None, now=NOW)


def test_a_prepared_draft_is_submitted_once_filed_and_a_return_makes_it_theirs_again(
        ) -> None:
    """The domain's rule behind POST …/filing, …/return and …/submission."""
    vaulx, rectorat = commune_actor("mairie-vaulx", "69256"), Actor(Role.RECTORAT, "r", "69")
    w = wave()
    c = draft(w, by=vaulx)
    with pytest.raises(Conflict, match="is not filed with the préfecture yet"):
        c.submit(wave=w, actor=PREFECTURE_69, now=NOW, today=TODAY)
    assert c.file(actor=rectorat, now=NOW) and not c.file(actor=vaulx, now=NOW)
    with pytest.raises(Conflict, match="only the préfecture may revise it now"):
        c.revise(wave=w, departement="69", dossier=c.dossier, actor=vaulx, now=NOW)
    c.return_to_preparers(actor=PREFECTURE_69, motive="Compléter", now=NOW)
    assert (c.filed_at, c.filed_by, c.return_motive) == (None, None, "Compléter")
    c.revise(wave=w, departement="69", dossier=c.dossier, actor=vaulx, now=NOW)
    c.file(actor=vaulx, now=NOW)
    assert c.submit(wave=w, actor=PREFECTURE_69, now=NOW, today=TODAY) is not None
    assert (c.prepared_by, c.filed_by) == (Role.COMMUNE, Role.COMMUNE)
