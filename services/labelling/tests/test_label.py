"""The label: period arithmetic, renewal, extension, suspension, withdrawal, expiry (pure)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from labelling.domain import (
    RULE_SETS,
    Addition,
    HistoryEntry,
    Label,
    LabelStatus,
    LabelTerm,
    RenewalOutsideWindow,
    RenewalWindow,
    first_period,
    next_period,
)
from labelling_kit import NATIONAL, NOW, PREFECTURE_69, TODAY, commune, labelled, qpv, school

from cites_contracts.events.labelling import (
    ConventionSigned,
    LabelExpired,
    LabelReinstated,
    LabelRenewed,
    LabelSuspended,
    LabelWithdrawn,
    PerimeterExtended,
    RenewalApplied,
    RenewalRefused,
)
from cites_contracts.types import LabelPeriod
from cites_runtime.errors import Conflict, RuleBroken

AT = {"actor": NATIONAL, "today": TODAY, "now": NOW}
"""Who acts, and when (the business dates each test gives are today's unless it says)."""

# --- Period arithmetic -----------------------------------------------------------------------


def test_a_label_lasts_three_years_from_the_decision_date_both_ends_included() -> None:
    period = first_period(date(2022, 1, 20), 3)
    assert (period.start, period.end) == (date(2022, 1, 20), date(2025, 1, 19))


def test_the_length_of_a_label_is_configurable() -> None:
    assert first_period(date(2024, 9, 1), 5).end == date(2029, 8, 31)


def test_a_label_decided_on_29_february_ends_on_28_february() -> None:
    # 29/02/2027 does not exist: the period runs to the day before 1 March.
    assert first_period(date(2024, 2, 29), 3).end == date(2027, 2, 28)


def test_a_renewal_starts_the_day_after_the_current_period_ends() -> None:
    # The 2022 cités, renewed for 2025–2027.
    renewed = next_period(first_period(date(2022, 1, 1), 3), 3)
    assert (renewed.start, renewed.end) == (date(2025, 1, 1), date(2027, 12, 31))


# --- Renewal ---------------------------------------------------------------------------------

WINDOW = RULE_SETS["2024-v1"].renewal


def renew(x: Label, today: date, *, window: RenewalWindow = WINDOW,
          convention_signed_on: date | None = None) -> LabelRenewed:
    return x.renew(years=3, window=window, decided_on=today,
                   convention_signed_on=convention_signed_on, actor=NATIONAL, today=today, now=NOW)


def test_renewing_adds_the_next_period_and_says_which_it_follows() -> None:
    x = labelled(on=date(2022, 1, 1))
    event = renew(x, date(2024, 12, 1))
    assert isinstance(event, LabelRenewed)
    assert event.previous_period == first_period(date(2022, 1, 1), 3)
    assert (event.label_period.start, event.label_period.end) == (date(2025, 1, 1),
                                                                  date(2027, 12, 31))


def test_the_2022_cites_renewed_at_the_end_of_2024_keep_their_period_until_it_ends() -> None:
    x = labelled(on=date(2022, 1, 1))
    renew(x, date(2024, 11, 15))
    assert [(p.start, p.end) for p in x.periods] == [(date(2022, 1, 1), date(2024, 12, 31)),
                                                     (date(2025, 1, 1), date(2027, 12, 31))]
    assert x.period_on(date(2024, 11, 15)) == x.periods[0]
    assert x.period_on(date(2024, 12, 31)) == x.periods[0]
    assert x.period_on(date(2025, 1, 1)) == x.periods[1]


def test_renewal_opens_in_the_last_12_months_of_the_period_and_closes_on_its_last_day() -> None:
    period = first_period(date(2022, 1, 1), 3)
    assert (WINDOW.of(period).opens_on, WINDOW.of(period).closes_on) == (
        date(2024, 1, 1), date(2024, 12, 31))
    for day in (date(2024, 1, 1), date(2024, 12, 31)):
        assert isinstance(renew(labelled(on=date(2022, 1, 1)), day), LabelRenewed)


@pytest.mark.parametrize("today", [date(2022, 1, 1), date(2023, 12, 31), date(2025, 1, 1)])
def test_renewal_outside_its_window_is_refused_naming_the_window(today: date) -> None:
    x = labelled(on=date(2022, 1, 1))
    with pytest.raises(RenewalOutsideWindow) as refused:
        renew(x, today)
    assert refused.value.message == (
        "cite-001 can be renewed only in the last 12 months of its period (2022-01-01 – "
        f"2024-12-31): from 2024-01-01 to 2024-12-31; the renewal is dated {today}")
    assert (refused.value.opens_on, refused.value.closes_on) == (
        date(2024, 1, 1), date(2024, 12, 31))
    assert [(p.start, p.end) for p in x.periods] == [(date(2022, 1, 1), date(2024, 12, 31))]


def test_the_renewal_window_is_rule_set_data() -> None:
    assert {rs.renewal.months for rs in RULE_SETS.values()} == {12}
    period = first_period(date(2022, 1, 1), 3)
    assert RenewalWindow(months=6).of(period).opens_on == date(2024, 7, 1)
    # A period ending on 29 February: the window opens a year before, on 1 March.
    leap = first_period(date(2021, 3, 1), 3)
    assert (leap.end, WINDOW.of(leap).opens_on) == (date(2024, 2, 29), date(2023, 3, 1))


def test_a_label_already_renewed_for_a_future_period_is_not_renewed_again() -> None:
    x = labelled()
    renew(x, date(2027, 6, 1))
    with pytest.raises(Conflict, match="already renewed for 2028-03-10 – 2031-03-09"):
        renew(x, date(2027, 6, 2))


def test_the_renewed_period_can_be_renewed_in_its_own_window() -> None:
    x = labelled()
    renew(x, date(2027, 6, 1))
    event = renew(x, date(2030, 6, 1))
    assert (event.previous_period.start, event.label_period.start) == (date(2028, 3, 10),
                                                                       date(2031, 3, 10))
    assert len(x.periods) == 3


def test_a_suspended_label_is_reinstated_before_it_is_renewed() -> None:
    x = labelled()
    x.suspend("Gouvernance absente", effective_on=TODAY, **AT)
    with pytest.raises(Conflict, match="suspended: reinstate it before it is renewed"):
        renew(x, date(2027, 6, 1))


def test_a_convention_cannot_be_signed_in_the_future() -> None:
    x = labelled()
    with pytest.raises(RuleBroken, match="after today"):
        renew(x, date(2027, 6, 1), convention_signed_on=date(2027, 6, 2))


def test_each_period_keeps_its_convention() -> None:
    x = labelled()
    x.record_convention(TODAY, actor=PREFECTURE_69, today=TODAY, now=NOW)
    renew(x, date(2027, 6, 1), convention_signed_on=date(2027, 6, 1))
    assert [p.convention_signed_on for p in x.periods] == [TODAY, date(2027, 6, 1)]
    assert x.convention_signed_on == date(2027, 6, 1)  # the latest period's


# --- Convention ------------------------------------------------------------------------------


def test_the_convention_is_recorded_once() -> None:
    x = labelled()
    event = x.record_convention(TODAY, actor=PREFECTURE_69, today=TODAY, now=NOW)
    assert isinstance(event, ConventionSigned)
    assert x.record_convention(TODAY, actor=PREFECTURE_69, today=TODAY, now=NOW) is None
    with pytest.raises(Conflict, match="already recorded as signed on 2025-03-10"):
        x.record_convention(date(2025, 3, 9), actor=PREFECTURE_69, today=TODAY, now=NOW)


def test_a_convention_is_never_signed_before_the_decision() -> None:
    x = labelled()  # decided today
    with pytest.raises(RuleBroken) as refused:
        x.record_convention(TODAY - timedelta(days=1), actor=PREFECTURE_69, today=TODAY,
                            now=NOW)
    assert [f.rule for f in refused.value.failures] == ["convention_in_order"]
    assert x.convention_signed_on is None


# --- Extension -------------------------------------------------------------------------------


def test_an_extension_adds_what_is_new_and_carries_the_whole_perimeter() -> None:
    x = labelled()
    addition = Addition.model_validate({
        "communes": [commune(), commune("69259", "Vénissieux")],
        "qpvs": [qpv("QN06907B", 2100, "Les Minguettes")],
        "schools": [school("0697777C", "ecole", "rep_plus", "École Max Barel")],
    })
    event = x.extend(addition, decided_on=TODAY, **AT)
    assert isinstance(event, PerimeterExtended)
    assert [c.insee_code for c in event.added.communes] == ["69259"]  # 69256 was there
    assert [c.insee_code for c in event.perimeter.communes] == ["69256", "69259"]
    assert [q.code for q in x.perimeter.qpvs] == ["QN06901M", "QN06907B"]
    assert x.extend(addition, decided_on=TODAY, **AT) is None  # repeat: nothing new


def test_an_extension_stays_in_the_departement() -> None:
    addition = Addition.model_validate({"communes": [commune("38185", "Grenoble")]})
    with pytest.raises(RuleBroken) as refused:
        labelled().extend(addition, decided_on=TODAY, **AT)
    assert [(f.field, f.rule) for f in refused.value.failures] == [
        ("communes", "communes_in_departement")]


def test_an_empty_extension_is_refused() -> None:
    with pytest.raises(RuleBroken, match="at least one commune, QPV or school"):
        labelled().extend(Addition(), decided_on=TODAY, **AT)


# --- Suspension, reinstatement, withdrawal ---------------------------------------------------


def test_suspension_and_reinstatement_are_idempotent() -> None:
    x = labelled()
    assert isinstance(x.suspend("Pas de comité", effective_on=TODAY, **AT), LabelSuspended)
    assert x.suspend("Pas de comité", effective_on=TODAY, **AT) is None
    assert isinstance(x.reinstate(None, effective_on=TODAY, **AT), LabelReinstated)
    assert x.reinstate(None, effective_on=TODAY, **AT) is None
    assert x.status is LabelStatus.LABELLED


def test_a_withdrawal_ends_the_cite_today_whatever_its_status() -> None:
    x = labelled()
    x.suspend("Gouvernance absente", effective_on=TODAY, **AT)
    event = x.withdraw("Aucun redémarrage", effective_on=TODAY, **AT)
    assert isinstance(event, LabelWithdrawn)
    assert event.effective_on == TODAY
    assert x.withdraw("encore", effective_on=TODAY, **AT) is None


@pytest.mark.parametrize("action", ["suspend", "reinstate", "renew", "extend", "convention"])
def test_an_ended_label_accepts_no_command(action: str) -> None:
    x = labelled()
    x.withdraw("Fin", effective_on=TODAY, **AT)
    commands = {
        "suspend": lambda: x.suspend("m", effective_on=TODAY, **AT),
        "reinstate": lambda: x.reinstate(None, effective_on=TODAY, **AT),
        "renew": lambda: renew(x, date(2027, 6, 1)),
        "extend": lambda: x.extend(Addition.model_validate(
            {"communes": [commune("69259", "Vénissieux")]}), decided_on=TODAY, **AT),
        "convention": lambda: x.record_convention(TODAY, actor=NATIONAL, today=TODAY, now=NOW),
    }
    with pytest.raises(Conflict, match="is withdrawn"):
        commands[action]()


# --- Expiry ----------------------------------------------------------------------------------


def test_a_label_expires_the_day_after_its_last_day_not_on_it() -> None:
    x = labelled(on=date(2022, 1, 1))  # valid up to 2024-12-31 included
    assert x.expire(today=date(2024, 12, 31), now=NOW) is None
    event = x.expire(today=date(2025, 1, 1), now=NOW)
    assert isinstance(event, LabelExpired)
    assert event.label_period.end == date(2024, 12, 31)
    assert x.status is LabelStatus.EXPIRED
    assert x.expire(today=date(2025, 1, 2), now=NOW) is None  # once


def test_a_suspended_label_expires_too() -> None:
    x = labelled(on=date(2022, 1, 1))
    x.suspend("Revue de projet manquante", effective_on=TODAY, **AT)
    assert isinstance(x.expire(today=date(2025, 1, 1), now=NOW), LabelExpired)


def test_a_renewed_label_does_not_expire_at_the_end_of_its_first_period() -> None:
    x = labelled(on=date(2022, 1, 1))
    renew(x, date(2024, 12, 1))
    assert x.expire(today=date(2025, 1, 1), now=NOW) is None
    event = x.expire(today=date(2028, 1, 1), now=NOW)
    assert event is not None and event.label_period.end == date(2027, 12, 31)


def test_a_withdrawn_label_never_expires() -> None:
    x = labelled(on=date(2022, 1, 1))
    x.withdraw("Fin", effective_on=TODAY, **AT)
    assert x.expire(today=date(2030, 1, 1), now=NOW) is None


def test_the_history_records_who_decided_and_why() -> None:
    x = labelled()
    event = x.suspend("Pas de revue de projet", effective_on=TODAY, **AT)
    assert event is not None
    entry = HistoryEntry.of(event)
    assert (entry.kind, entry.motive, entry.actor_role.value if entry.actor_role else None) == (
        "LabelSuspended", "Pas de revue de projet", "national_coordination")


# --- Business time ---------------------------------------------------------------------------


@pytest.mark.parametrize(("decided_on", "start", "end"), [
    (date(2019, 9, 5), date(2020, 1, 1), date(2022, 12, 31)),   # the 80 cités of 2019
    (date(2021, 1, 22), date(2021, 1, 1), date(2023, 12, 31)),  # the 46 of January 2021
    (date(2025, 3, 21), date(2025, 1, 1), date(2027, 12, 31)),  # a renewal of March 2025
    (date(2019, 8, 31), date(2019, 1, 1), date(2021, 12, 31)),  # the day before September
])
def test_a_wave_in_calendar_years_labels_whole_years(decided_on: date, start: date,
                                                     end: date) -> None:
    period = LabelTerm(calendar=True).period(decided_on, 3)
    assert (period.start, period.end) == (start, end)


def test_a_wave_not_in_calendar_years_labels_from_the_decision() -> None:
    period = LabelTerm(calendar=False).period(date(2025, 5, 26), 3)
    assert (period.start, period.end) == (date(2025, 5, 26), date(2028, 5, 25))


def test_a_suspension_takes_effect_on_its_business_date_and_says_so() -> None:
    x = labelled(on=date(2024, 6, 1))
    event = x.suspend("Gouvernance absente", effective_on=date(2025, 2, 1), **AT)
    assert event is not None and event.effective_on == date(2025, 2, 1)
    assert event.suspended_at == NOW  # when the service learnt it
    assert (x.status, x.status_since) == (LabelStatus.SUSPENDED, date(2025, 2, 1))
    assert HistoryEntry.of(event).effective_on == date(2025, 2, 1)


@pytest.mark.parametrize(("effective_on", "rule"), [
    (TODAY + timedelta(days=1), "status_not_future"),
    (date(2018, 12, 31), "status_in_programme"),
    (date(2024, 5, 31), "status_in_order"),  # before the label's decision
])
def test_a_status_cannot_take_effect_in_the_future_or_before_what_it_changes(
        effective_on: date, rule: str) -> None:
    x = labelled(on=date(2024, 6, 1))
    with pytest.raises(RuleBroken) as refused:
        x.suspend("Gouvernance absente", effective_on=effective_on, **AT)
    assert [f.rule for f in refused.value.failures] == [rule]
    assert x.status is LabelStatus.LABELLED


def test_a_reinstatement_cannot_predate_the_suspension_it_lifts() -> None:
    x = labelled(on=date(2024, 6, 1))
    x.suspend("Gouvernance absente", effective_on=date(2025, 2, 1), **AT)
    with pytest.raises(RuleBroken, match="before the label's current status"):
        x.reinstate(None, effective_on=date(2025, 1, 31), **AT)
    event = x.reinstate(None, effective_on=date(2025, 3, 1), **AT)
    assert event is not None and event.effective_on == date(2025, 3, 1)


def test_a_renewal_is_judged_on_its_business_date_not_on_the_day_it_is_recorded() -> None:
    x = labelled(on=date(2022, 1, 1))  # 2022-01-01 – 2024-12-31, renewable during 2024
    event = x.renew(years=3, window=WINDOW, decided_on=date(2024, 11, 15),
                    convention_signed_on=None, actor=NATIONAL, today=date(2025, 3, 21), now=NOW)
    assert event.decided_on == date(2024, 11, 15)
    assert (event.label_period.start, event.label_period.end) == (date(2025, 1, 1),
                                                                   date(2027, 12, 31))


# --- Re-application: the 2022 cités, re-applied at the end of 2024, renewed in March 2025 ---


def reapplied(filed_on: date = date(2024, 11, 20)) -> Label:
    x = labelled(on=date(2022, 1, 1))  # 2022-01-01 – 2024-12-31
    event = x.apply_for_renewal(window=WINDOW, filed_on=filed_on, actor=PREFECTURE_69,
                                today=filed_on, now=NOW)
    assert isinstance(event, RenewalApplied) and event.filed_on == filed_on
    return x


def test_a_re_application_in_the_window_keeps_the_label_past_its_end_until_decided() -> None:
    x = reapplied()
    assert x.apply_for_renewal(window=WINDOW, filed_on=date(2024, 12, 1), actor=PREFECTURE_69,
                               today=date(2024, 12, 1), now=NOW) is None  # already filed
    assert not x.is_due_to_expire(date(2025, 3, 20))

    event = x.renew(years=3, window=WINDOW, decided_on=date(2025, 3, 21),
                    convention_signed_on=None, actor=NATIONAL, today=date(2025, 3, 21), now=NOW)

    assert (event.label_period.start, event.label_period.end) == (date(2025, 1, 1),
                                                                   date(2027, 12, 31))
    assert x.renewal_applied_on is None
    assert not x.is_due_to_expire(date(2025, 3, 22))


def test_without_a_re_application_a_renewal_after_the_period_is_refused() -> None:
    x = labelled(on=date(2022, 1, 1))
    with pytest.raises(RenewalOutsideWindow, match="the renewal is dated 2025-03-21"):
        x.renew(years=3, window=WINDOW, decided_on=date(2025, 3, 21), convention_signed_on=None,
                actor=NATIONAL, today=date(2025, 3, 21), now=NOW)


def test_a_re_application_outside_the_window_is_refused_naming_it() -> None:
    x = labelled(on=date(2022, 1, 1))
    with pytest.raises(RenewalOutsideWindow, match="the re-application is dated 2023-06-01"):
        x.apply_for_renewal(window=WINDOW, filed_on=date(2023, 6, 1), actor=PREFECTURE_69,
                            today=date(2023, 6, 1), now=NOW)
    assert x.renewal_applied_on is None


def test_a_refused_re_application_lets_the_label_end_with_its_period() -> None:
    x = reapplied()
    event = x.refuse_renewal("Revue de projet non transmise", decided_on=date(2025, 2, 3),
                             actor=NATIONAL, today=date(2025, 2, 3), now=NOW)
    assert isinstance(event, RenewalRefused)
    assert x.is_due_to_expire(date(2025, 2, 3))
    with pytest.raises(Conflict, match="no re-application to refuse"):
        x.refuse_renewal("encore", decided_on=date(2025, 2, 3), actor=NATIONAL,
                         today=date(2025, 2, 3), now=NOW)


@pytest.mark.parametrize(("start", "end", "rule"), [
    (date(2025, 2, 1), date(2027, 12, 31), "period_follows"),
    (date(2025, 1, 1), date(2028, 1, 31), "period_length"),
])
def test_a_stated_period_follows_the_current_one_and_lasts_no_longer_than_a_label(
        start: date, end: date, rule: str) -> None:
    x = reapplied()
    with pytest.raises(RuleBroken) as refused:
        x.renew(years=3, window=WINDOW, decided_on=date(2025, 3, 21), convention_signed_on=None,
                actor=NATIONAL, today=date(2025, 3, 21), now=NOW,
                period=LabelPeriod(start=start, end=end))
    assert [f.rule for f in refused.value.failures] == [rule]
    shorter = x.renew(years=3, window=WINDOW, decided_on=date(2025, 3, 21),
                      convention_signed_on=None, actor=NATIONAL, today=date(2025, 3, 21),
                      now=NOW, period=LabelPeriod(start=date(2025, 1, 1),
                                                  end=date(2026, 12, 31)))
    assert shorter.label_period.end == date(2026, 12, 31)
