"""The notification rules, as data: who is told of what, with which template. Pure: no
database, no broker."""

from __future__ import annotations

from datetime import date

import pytest
from notifications.domain.rules import (
    EXPIRY_REMINDER,
    PARTNER_NAMED_BY,
    REMINDERS,
    REVIEW_REMINDER,
    RULES,
    RecipientGroup,
    months_before,
    rules_for,
)
from notifications.domain.templates import template_names

from cites_contracts.envelope import registry
from cites_contracts.examples import EXAMPLES
from cites_contracts.types import LabelPeriod

T, C = RecipientGroup.TROIKA, RecipientGroup.CHEF_DE_FILE


@pytest.mark.parametrize(("event_type", "version", "template", "recipients"), [
    ("labelling.CandidatureSubmitted", 3, "candidature-received", {T}),
    ("labelling.CandidatureRejected", 1, "candidature-rejected", {T}),
    ("labelling.TerritoryLabelled", 2, "cite-labelled", {T, C}),
    ("labelling.LabelSuspended", 1, "label-suspended", {T}),
    ("labelling.LabelReinstated", 1, "label-reinstated", {T}),
    ("labelling.LabelWithdrawn", 1, "label-withdrawn", {T}),
    ("labelling.LabelExpired", 1, "label-expired", {T}),
    ("labelling.RenewalApplied", 1, "renewal-applied", {T}),
    ("labelling.RenewalRefused", 1, "renewal-refused", {T}),
    ("labelling.ProjectReviewOpened", 1, "project-review-opened", {T}),
    ("labelling.ProjectReviewOverdue", 1, "project-review-overdue", {T}),
    ("partners.AllianceOpened", 1, "alliance-opened", {C}),
    ("partners.PartnerJoinedAlliance", 1, "partner-joined-alliance",
     {C, RecipientGroup.NEW_MEMBER}),
    ("partners.PartnerLeftAlliance", 1, "partner-left-alliance",
     {C, RecipientGroup.LEAVING_MEMBER}),
    ("partners.AllianceClosed", 1, "alliance-closed", {RecipientGroup.ALLIANCE_MEMBERS}),
    ("funding.FundsAllocated", 1, "funds-allocated", {T, C}),
    ("funding.FondsDeLaCiteGranted", 1, "fonds-de-la-cite-granted", {T, C}),
    ("funding.FundsCommitted", 1, "funds-committed", {RecipientGroup.OPERATOR}),
    ("funding.PaymentMade", 1, "payment-made", {RecipientGroup.PAYEE}),
    ("funding.FundsFrozen", 1, "funds-frozen", {T}),
])
def test_an_event_notifies_its_recipients_with_its_template(
    event_type: str, version: int, template: str, recipients: set[RecipientGroup]
) -> None:
    [rule] = rules_for(event_type, version)
    assert rule.template == template
    assert set(rule.recipients) == recipients


@pytest.mark.parametrize(("event_type", "version"), [
    ("labelling.CandidatureSubmitted", 1),  # retired: a replay must not acknowledge it again
    ("labelling.ConventionSigned", 1),
    ("labelling.ProjectReviewSubmitted", 1),  # it cancels the reminders, tells nobody
    ("funding.EnvelopeOpened", 1),
    ("notifications.NotificationSent", 1),
    ("labelling.NoSuchEvent", 1),
])
def test_an_event_nobody_is_told_of_has_no_rule(event_type: str, version: int) -> None:
    assert rules_for(event_type, version) == []


def test_every_rule_names_an_event_of_the_catalogue_still_produced() -> None:
    catalogue = {(s.type, s.version): s for s in registry.catalogue()}
    for rule in RULES:
        spec = catalogue.get((rule.event_type, rule.version))
        assert spec is not None, f"{rule.event_type} v{rule.version} is not in the catalogue"
        assert not spec.retired, f"{rule.event_type} v{rule.version} is retired"


def test_every_rule_has_an_example_event_to_test_its_template_with() -> None:
    assert all((r.event_type, r.version) in EXAMPLES for r in RULES)


def test_an_event_has_at_most_one_rule() -> None:
    keys = [(r.event_type, r.version) for r in RULES]
    assert len(keys) == len(set(keys))


def test_every_rule_template_exists_and_every_template_has_a_rule() -> None:
    used = {r.template for r in RULES} | {r.template for r in REMINDERS}
    assert used == template_names()


def test_a_recipient_named_by_the_event_is_a_field_of_that_event() -> None:
    for rule in RULES:
        model = registry.get(rule.event_type, rule.version)
        assert model is not None
        for group in rule.recipients:
            if group in PARTNER_NAMED_BY:
                assert PARTNER_NAMED_BY[group] in model.model.model_fields, (rule, group)


def test_the_delivery_examples_name_the_templates_of_the_rules() -> None:
    """The contract's NotificationSent/Failed examples use our template names."""
    for key in (("notifications.NotificationSent", 1), ("notifications.NotificationFailed", 1)):
        example = EXAMPLES[key]
        [rule] = rules_for(example["cause_type"], max(registry.versions(example["cause_type"])))
        assert rule.template == example["template"]


def test_the_expiry_reminder_goes_to_the_troika_six_months_and_one_month_before_the_end() -> (
    None
):
    period = LabelPeriod(start=date(2022, 9, 5), end=date(2025, 9, 4))
    assert EXPIRY_REMINDER.recipients == (T,)
    assert EXPIRY_REMINDER.due_dates(period.end) == [
        (6, date(2025, 3, 4)), (1, date(2025, 8, 4))]


def test_the_review_reminder_goes_to_the_troika_thirty_and_seven_days_before_the_deadline(
) -> None:
    assert REVIEW_REMINDER.recipients == (T,)
    assert REVIEW_REMINDER.due_dates(date(2026, 3, 31)) == [
        (30, date(2026, 3, 1)), (7, date(2026, 3, 24))]


@pytest.mark.parametrize(("today", "told_on", "due"), [
    (date(2026, 2, 28), None, None),
    (date(2026, 3, 1), None, 30),
    (date(2026, 3, 23), None, 30),
    (date(2026, 3, 24), None, 7),  # a 30-day reminder missed is not sent once the 7 is due
    (date(2026, 3, 31), None, 7),
    (date(2026, 4, 1), None, None),  # the deadline gone
    (date(2026, 3, 11), date(2026, 3, 10), None),  # the 30-day day was before it was told
    (date(2026, 3, 24), date(2026, 3, 10), 7),
    (date(2026, 3, 24), date(2026, 3, 24), None),  # told that very day
    (date(2026, 3, 31), date(2026, 4, 2), None),  # told after the deadline
])
def test_the_reminder_due_is_the_latest_come_after_the_day_it_was_told(
    today: date, told_on: date | None, due: int | None
) -> None:
    assert REVIEW_REMINDER.due(date(2026, 3, 31), today, told_on=told_on) == due


@pytest.mark.parametrize(("day", "months", "expected"), [
    (date(2022, 9, 4), 6, date(2022, 3, 4)),
    (date(2025, 8, 31), 6, date(2025, 2, 28)),  # no 31 February: the month's last day
    (date(2024, 8, 31), 6, date(2024, 2, 29)),
    (date(2025, 1, 15), 1, date(2024, 12, 15)),  # across the year
    (date(2025, 3, 31), 1, date(2025, 2, 28)),
])
def test_months_before_keeps_the_day_or_takes_the_month_end(
    day: date, months: int, expected: date
) -> None:
    assert months_before(day, months) == expected
