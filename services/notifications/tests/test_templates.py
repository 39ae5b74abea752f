"""The French mails: formatting helpers, and every rule's template rendered with the
contract's example event and with realistic facts: no internal id in any mail, dates and
times where the territory is, the decision the ministers', an opening suited to the
recipient. Pure: no database, no broker."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from jinja2 import UndefinedError
from markupsafe import escape
from notifications.domain import french
from notifications.domain.rules import (
    EXPIRY_REMINDER,
    REVIEW_REMINDER,
    RULES,
    ExpiryReminder,
    RecipientGroup,
    ReviewReminder,
    Rule,
    rules_for,
)
from notifications.domain.templates import (
    KnownCommitment,
    KnownPartner,
    MailContext,
    RenderedMail,
    environment,
    render,
)
from pydantic import BaseModel

from cites_contracts.envelope import Event, registry
from cites_contracts.examples import example
from cites_contracts.types import TIME_ZONES, LabelPeriod, PartnerKind, TroikaRole

NNBSP, NBSP = "\u202f", "\u00a0"
VAULX = "Cité éducative de Vaulx-en-Velin"
REJECTED_TERRITORY = "Rillieux-la-Pape"  # the example rejection is another territory's


def example_event(event_type: str, version: int = 1) -> Event:
    spec = registry.get(event_type, version)
    assert spec is not None
    return spec.model.model_validate(example(spec))


def name_for(event_type: str) -> str:
    """The name the projection would give: the territory's for a candidature."""
    if event_type == "labelling.CandidatureSubmitted":
        return "Vaulx-en-Velin"
    if event_type == "labelling.CandidatureRejected":
        return REJECTED_TERRITORY
    return VAULX


def mail(event_type: str, version: int = 1, recipient: RecipientGroup = RecipientGroup.TROIKA,
         troika_role: TroikaRole | None = None, cite_name: str | None = None,
         name_unknown: bool = False) -> RenderedMail:
    """The mail of the rule of ``event_type``, from its example, named as the projection
    would name it (``cite_name`` instead, or no name at all when ``name_unknown``)."""
    [rule] = rules_for(event_type, version)
    name = None if name_unknown else cite_name or name_for(event_type)
    context = MailContext(example_event(event_type, version), recipient, troika_role, name)
    return render(rule.template, context)


# --- French formatting --------------------------------------------------------------------


@pytest.mark.parametrize(("cents", "shown"), [
    (0, f"0,00{NBSP}€"),
    (5, f"0,05{NBSP}€"),
    (99_999, f"999,99{NBSP}€"),
    (35_000_000, f"350{NNBSP}000,00{NBSP}€"),
    (123_456_789, f"1{NNBSP}234{NNBSP}567,89{NBSP}€"),
    (-1_500_000, f"-15{NNBSP}000,00{NBSP}€"),
])
def test_euros_groups_thousands_and_never_breaks_before_the_sign(cents: int, shown: str) -> None:
    assert french.euros(cents) == shown


@pytest.mark.parametrize(("day", "shown"), [
    (date(2019, 9, 5), "5 septembre 2019"),
    (date(2025, 1, 1), "1er janvier 2025"),
    (date(2020, 2, 29), "29 février 2020"),
    (date(2021, 8, 15), "15 août 2021"),
    (date(2022, 12, 31), "31 décembre 2022"),
])
def test_dates_read_the_french_way(day: date, shown: str) -> None:
    assert french.date_fr(day) == shown


def test_a_moment_shows_its_day_and_time_in_paris_summer_or_winter() -> None:
    assert french.datetime_fr(datetime(2019, 9, 5, 10, 0, tzinfo=UTC)) == (
        f"5 septembre 2019 à 12{NBSP}h{NBSP}00")
    assert french.datetime_fr(datetime(2020, 1, 20, 10, 30, tzinfo=UTC)) == (
        f"20 janvier 2020 à 11{NBSP}h{NBSP}30")
    # Already the next day in Paris.
    assert french.date_fr(datetime(2024, 12, 31, 23, 30, tzinfo=UTC)) == "1er janvier 2025"


def test_a_moment_shows_its_day_and_time_where_the_territory_is_and_says_so() -> None:
    filed = datetime(2026, 12, 6, 22, 27, tzinfo=UTC)  # 23 h 27 in Paris, 6 December
    assert french.datetime_fr(filed, "Indian/Reunion") == (
        f"7 décembre 2026 à 2{NBSP}h{NBSP}27, heure de La Réunion")
    assert french.date_fr(filed, "Indian/Reunion") == "7 décembre 2026"
    assert french.datetime_fr(filed, "America/Guadeloupe") == (
        f"6 décembre 2026 à 18{NBSP}h{NBSP}27, heure de la Guadeloupe")
    assert french.datetime_fr(filed) == f"6 décembre 2026 à 23{NBSP}h{NBSP}27"
    assert french.datetime_fr(filed, say_zone=True) == (
        f"6 décembre 2026 à 23{NBSP}h{NBSP}27, heure de Paris")


def test_every_territory_s_time_zone_has_a_french_name() -> None:
    assert {french.zone_name(z) for z in TIME_ZONES.values()} >= {
        "La Réunion", "Mayotte", "la Guyane", "Saint-Martin"}


def test_a_wave_is_named_by_its_title_never_by_its_id() -> None:
    assert french.vague({"id": "2019", "year": 2019, "title": "Vague 2019 : 80 cités"}) == (
        f"«{NBSP}Vague 2019 : 80 cités{NBSP}»")
    assert french.vague({"id": "2024-generalisation", "year": 2024, "title": None}) == (
        "la vague 2024")


def test_a_moment_without_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        french.datetime_fr(datetime(2019, 9, 5, 10, 0))


def test_labels_lists_and_counts_read_the_french_way() -> None:
    assert [french.troika_role(r) for r in TroikaRole] == [
        "préfet", "recteur", "maire", "président de l’EPCI"]
    assert french.programme("P147") == f"programme 147 «{NBSP}Politique de la ville{NBSP}»"
    assert french.liste(["a"]) == "a"
    assert french.liste(["a", "b", "c"]) == "a, b et c"
    assert french.nombre(1, "commune", "communes") == f"1{NBSP}commune"
    assert french.nombre(4, "commune", "communes") == f"4{NBSP}communes"
    assert french.criterion("diagnostic_quality") == "qualité du diagnostic"
    assert french.criterion("new_criterion") == "new_criterion"
    assert french.la_cite(VAULX) == "la Cité éducative de Vaulx-en-Velin"
    assert french.la_cite("Grigny") == f"la cité éducative «{NBSP}Grigny{NBSP}»"


# --- Every rule's template, with the contract's example ----------------------------------


CASES = [(r, g) for r in RULES for g in r.recipients]


@pytest.mark.parametrize(("rule", "recipient"), CASES,
                         ids=[f"{r.template}-{g.value}" for r, g in CASES])
def test_every_template_renders_a_french_mail_from_the_example_event(
    rule: Rule, recipient: RecipientGroup
) -> None:
    sent = mail(rule.event_type, rule.version, recipient,
                troika_role=TroikaRole.RECTEUR if recipient is RecipientGroup.TROIKA else None)

    assert sent.subject and "\n" not in sent.subject
    assert sent.text.startswith(f"{opening(recipient, TroikaRole.RECTEUR)},\n")
    assert "considération distinguée" in sent.text
    assert '<html lang="fr">' in sent.html
    assert f"<p>{opening(recipient, TroikaRole.RECTEUR)},</p>" in sent.html
    assert f"<title>{escape(sent.subject)}</title>" in sent.html
    name = name_for(rule.event_type)
    assert name in sent.subject and name in sent.text and escape(name) in sent.html
    for part in (sent.subject, sent.text, sent.html):
        assert "None" not in part and "{{" not in part
    assert "_" not in sent.text  # no code (label_suspended, rep_plus…) left untranslated
    if recipient is RecipientGroup.TROIKA:
        assert "en qualité de recteur" in sent.text


def test_the_dotation_mail_shows_the_amount_and_the_date_the_french_way() -> None:
    sent = mail("funding.FundsAllocated")
    amount = f"350{NNBSP}000,00{NBSP}€"
    assert amount in sent.subject
    assert f"Montant alloué : {amount}" in sent.text
    assert "le 20 janvier 2020" in sent.text and "le 20 janvier 2020" in sent.html
    assert f"programme 147 «{NBSP}Politique de la ville{NBSP}»" in sent.text
    assert f"<strong>{amount}</strong>" in sent.html


def test_the_fonds_de_la_cite_mail_shows_the_sum_and_each_ministry_s_share() -> None:
    sent = mail("funding.FondsDeLaCiteGranted", recipient=RecipientGroup.CHEF_DE_FILE)
    assert f"Montant : 30{NNBSP}000,00{NBSP}€" in sent.text
    assert f"- 15{NNBSP}000,00{NBSP}€ au titre du programme 230" in sent.text
    assert "placé auprès de votre établissement" in sent.text  # for the chef de file only
    assert "placé auprès" not in mail("funding.FondsDeLaCiteGranted").text


def test_the_labelling_mail_names_the_cite_its_period_and_its_chef_de_file() -> None:
    sent = mail("labelling.TerritoryLabelled", 2)
    assert sent.subject == f"{VAULX} : label «{NBSP}Cité éducative{NBSP}» attribué"
    assert ("les ministres chargés de la ville et de l’éducation nationale ont décidé, le 5 "
            "septembre 2019, de labelliser votre territoire") in sent.text
    assert "; la coordination nationale vous le notifie." in sent.text
    assert "la coordination nationale vous le notifie." in sent.html
    assert f"au titre de «{NBSP}Vague 2019 : 80 premières cités éducatives{NBSP}»" in sent.text
    assert f"{VAULX} (département 69)" in sent.text
    assert "valable du 5 septembre 2019 au 4 septembre 2022" in sent.text
    assert f"Collège Aimé Césaire (UAI{NBSP}0693874L)" in sent.text


def test_the_acknowledgement_tells_the_paris_time_of_filing_and_the_perimeter() -> None:
    sent = mail("labelling.CandidatureSubmitted", 3, troika_role=TroikaRole.MAIRE)
    assert f"déposée le 14 juin 2019 à 11{NBSP}h{NBSP}42, au titre de" in sent.text
    assert sent.text.startswith("Madame, Monsieur le Maire,\n")
    assert f"1{NBSP}commune, 1{NBSP}quartier prioritaire et 4{NBSP}établissements" in sent.text
    assert "en qualité de maire" in sent.text


def test_a_submission_in_la_reunion_is_acknowledged_in_reunion_time() -> None:
    submitted = example_event("labelling.CandidatureSubmitted", 3).model_copy(update={
        "departement": "974", "submitted_at": datetime(2026, 12, 6, 22, 27, tzinfo=UTC)})
    sent = render("candidature-received", MailContext(submitted, RecipientGroup.TROIKA,
                                                      TroikaRole.PREFET, "Le Port"))
    shown = f"déposée le 7 décembre 2026 à 2{NBSP}h{NBSP}27, heure de La Réunion"
    assert shown in sent.text and shown in sent.html
    assert "6 décembre" not in sent.text + sent.html


def test_the_rejection_gives_the_motive_and_the_unmet_criteria() -> None:
    sent = mail("labelling.CandidatureRejected")
    assert ("les ministres chargés de la ville et de l’éducation nationale ont décidé, le 5 "
            "septembre 2019, de ne pas retenir la candidature") in sent.text
    motive = example_event("labelling.CandidatureRejected").motive  # type: ignore[attr-defined]
    assert f"Candidature «{NBSP}{REJECTED_TERRITORY}{NBSP}» : non retenue" == sent.subject
    assert motive in sent.text
    assert escape(motive) in sent.html
    assert "qualité du diagnostic et précision des indicateurs" in sent.text


def test_a_rejection_of_a_territory_whose_name_is_unknown_still_reads_well() -> None:
    sent = mail("labelling.CandidatureRejected", name_unknown=True)
    assert sent.subject == "Candidature : non retenue"
    assert "la candidature au label" in sent.text and "None" not in sent.text


def test_the_expiry_reminder_tells_the_last_day_of_the_label() -> None:
    facts = ExpiryReminder(cite_id="cite-042", months_before=6,
                           label_period=LabelPeriod(start=date(2022, 9, 5), end=date(2025, 9, 4)))
    sent = render(EXPIRY_REMINDER.template,
                  MailContext(facts, RecipientGroup.TROIKA, TroikaRole.PREFET, cite_name=VAULX))
    assert sent.subject == f"{VAULX} : le label prend fin le 4 septembre 2025"
    assert "valable jusqu’au 4 septembre 2025 inclus" in sent.text


def test_the_review_mails_name_the_year_and_the_deadline_never_an_id() -> None:
    opened = example_event("labelling.ProjectReviewOpened")
    reminder = ReviewReminder(review_id=opened.review_id,  # type: ignore[attr-defined]
                              cite_id="cite-042", year=2020, due_on=date(2021, 3, 31),
                              days_before=7)
    sent = {
        "opened": mail("labelling.ProjectReviewOpened", troika_role=TroikaRole.PREFET),
        "reminder": render(REVIEW_REMINDER.template, MailContext(
            reminder, RecipientGroup.TROIKA, TroikaRole.MAIRE, cite_name=VAULX)),
        "overdue": mail("labelling.ProjectReviewOverdue", troika_role=TroikaRole.RECTEUR),
    }
    assert sent["opened"].subject == (
        f"{VAULX} : revue de projet 2020 à transmettre au plus tard le 31 mars 2021")
    assert "est ouverte depuis le 11 janvier 2021" in sent["opened"].text
    assert sent["reminder"].subject == (
        f"Rappel – {VAULX} : revue de projet 2020 à transmettre au plus tard le 31 mars 2021")
    assert sent["reminder"].text.startswith("Madame, Monsieur le Maire,\n")
    assert sent["overdue"].subject == (
        f"{VAULX} : revue de projet 2020 non transmise à l’échéance du 31 mars 2021")
    for each in sent.values():
        for part in (each.subject, each.text, each.html):
            assert not UUID_PATTERN.search(part) and "cite-042" not in part
        assert "revue de projet 2020" in each.text and "31 mars 2021" in each.html


def test_a_cite_whose_name_the_projection_does_not_know_is_never_named_by_its_id() -> None:
    sent = mail("funding.PaymentMade", recipient=RecipientGroup.PAYEE, name_unknown=True)
    assert sent.subject.startswith("Cité éducative : paiement de")
    assert "sur les crédits de la Cité éducative." in sent.text
    assert "cite-042" not in sent.subject + sent.text + sent.html


# --- Strictness and escaping --------------------------------------------------------------


def test_a_template_reading_a_fact_the_event_lacks_fails() -> None:
    allocation = example_event("funding.FundsAllocated")  # no decision day, motive, wave
    with pytest.raises(UndefinedError, match="decided_on"):
        render("candidature-rejected", MailContext(allocation, RecipientGroup.TROIKA))


def test_a_variable_missing_from_the_context_fails_instead_of_showing_empty() -> None:
    with pytest.raises(UndefinedError, match="cite_name"):
        environment().get_template("label-suspended.txt").render(
            {"event": {"motive": "m", "suspended_at": datetime(2021, 3, 2, 14, 0, tzinfo=UTC)},
             "recipient": "troika", "recipient_label": "préfet", "appel": "Madame, Monsieur",
             "time_zone": french.PARIS, "zone_said": False, "known_name": None})


def test_a_date_filter_without_the_mail_s_time_zone_fails() -> None:
    with pytest.raises(UndefinedError, match="time_zone"):
        environment().from_string("{{ day|date_fr }}").render(
            {"day": datetime(2021, 3, 2, 14, 0, tzinfo=UTC)})


def test_html_escapes_what_the_facts_hold_and_text_keeps_it_plain() -> None:
    motive = "<script>alert('x')</script> & <b>suite</b>"
    facts = example_event("labelling.LabelSuspended").model_copy(update={"motive": motive})
    sent = render("label-suspended", MailContext(facts, RecipientGroup.TROIKA,
                                                 cite_name="<i>Vaulx</i>"))
    assert motive in sent.text and "<i>Vaulx</i>" in sent.text
    assert "<script>" not in sent.html and "<i>" not in sent.html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;b&gt;suite&lt;/b&gt;" in (
        sent.html)


def test_a_subject_stays_one_line_whatever_the_name_holds() -> None:
    sent = mail("labelling.LabelExpired", cite_name="Vaulx\r\nBcc: victim@example.org")
    assert "\n" not in sent.subject and "\r" not in sent.subject
    assert sent.subject == "Vaulx Bcc: victim@example.org : label arrivé à échéance"


# --- What a civil servant would send ------------------------------------------------------

UUID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
WAVE_ID = "2024-generalisation"
CITE_ID = "cite-042"
PARTNER = KnownPartner("Les Petits Débrouillards", "association")
COMMITMENT = KnownCommitment("Ateliers scientifiques du mercredi", 40_000_00,
                             datetime(2026, 3, 3, 9, 30, tzinfo=UTC))
FILED = datetime(2026, 12, 6, 22, 27, tzinfo=UTC)


def opening(recipient: RecipientGroup, role: TroikaRole | None) -> str:
    """The opening a recipient is written to with: its office, when it has one."""
    if recipient is RecipientGroup.TROIKA and role is not None:
        return {TroikaRole.PREFET: "Madame, Monsieur le Préfet",
                TroikaRole.RECTEUR: "Madame, Monsieur le Recteur",
                TroikaRole.MAIRE: "Madame, Monsieur le Maire",
                TroikaRole.PRESIDENT_EPCI: "Madame, Monsieur le Président"}[role]
    if recipient is RecipientGroup.CHEF_DE_FILE:
        return "Madame, Monsieur le Principal"
    return "Madame, Monsieur"


def realistic(facts: BaseModel, wave_title: str | None) -> BaseModel:
    """The example's facts with a real-shaped wave (an id that reads as one, its title or
    none, as events written before titles were carried) and a cité of La Réunion."""
    update: dict[str, object] = {}
    if "wave" in type(facts).model_fields:
        update["wave"] = {"id": WAVE_ID, "year": 2024, "title": wave_title, "test": False}
    if "departement" in type(facts).model_fields:
        update["departement"] = "974"
    if "cite_id" in type(facts).model_fields:
        update["cite_id"] = CITE_ID
    return type(facts).model_validate({**facts.model_dump(), **update})


REALISTIC = [(r, g, role, title) for r in RULES for g in r.recipients
             for role in (list(TroikaRole) if g is RecipientGroup.TROIKA else [None])
             for title in ("Généralisation 2024 : appel permanent", None)]


@pytest.mark.parametrize(("rule", "recipient", "role", "title"), REALISTIC, ids=[
    f"{r.template}-{role or g.value}-{'titled' if t else 'untitled'}"
    for r, g, role, t in REALISTIC])
def test_no_mail_shows_an_internal_id_and_each_opens_as_its_recipient_is_addressed(
    rule: Rule, recipient: RecipientGroup, role: TroikaRole | None, title: str | None,
) -> None:
    facts = realistic(example_event(rule.event_type, rule.version), title)
    sent = render(rule.template, MailContext(
        facts, recipient, role, "Le Port", departement="974", filed_at=FILED,
        partner=PARTNER, commitment=COMMITMENT))

    for part in (sent.subject, sent.text, sent.html):
        assert not UUID_PATTERN.search(part), UUID_PATTERN.search(part)
        assert WAVE_ID not in part and CITE_ID not in part
        assert "None" not in part
    assert sent.text.startswith(f"{opening(recipient, role)},\n")
    assert f"<p>{opening(recipient, role)},</p>" in sent.html
    assert f"d’agréer, {opening(recipient, role)}, l’expression" in sent.text
    assert f"d’agréer, {opening(recipient, role)}, l’expression" in sent.html
    assert "Madame la" not in sent.text  # no gender assumed
    if "wave" in type(facts).model_fields:
        wave = f"«{NBSP}{title}{NBSP}»" if title else "la vague 2024"
        assert wave in sent.text and wave in sent.html
    assert "coordination nationale a " not in sent.text  # decisions are the ministers'


def test_plain_text_and_html_tell_the_same_facts() -> None:
    """Every amount, date and time zone of the plain-text part is in the HTML part."""
    checked = 0
    for rule in RULES:
        for recipient in rule.recipients:
            facts = realistic(example_event(rule.event_type, rule.version), None)
            sent = render(rule.template, MailContext(
                facts, recipient, TroikaRole.PREFET, "Le Port", departement="974",
                filed_at=FILED, partner=PARTNER, commitment=COMMITMENT))
            html = sent.html.replace("&nbsp;", NBSP).replace("&#8239;", NNBSP)
            for fact in re.findall(r"\d[\d\u202f]*,\d\d\u00a0€|\d+(?:er)? [a-zéû]+ \d{4}"
                                   r"|heure de [A-Z][a-zé]+(?: [A-Z][a-zé]+)?", sent.text):
                assert fact in html, (rule.template, recipient, fact)
                checked += 1
    assert checked > 2 * len(RULES)


def test_a_mail_about_a_territory_reads_its_dates_in_its_time_zone() -> None:
    labelled = realistic(example_event("labelling.TerritoryLabelled"), None)
    # Recorded late on 6 December (Paris), written before decisions carried their day.
    late = labelled.model_copy(update={
        "labelled_at": datetime(2026, 12, 6, 22, 27, tzinfo=UTC), "decided_on": None})
    sent = render("cite-labelled", MailContext(late, RecipientGroup.TROIKA, TroikaRole.PREFET,
                                               "Le Port", departement="974"))
    assert "ont décidé, le 7 décembre 2026, de labelliser" in sent.text


def test_a_decision_is_dated_by_its_business_day_not_by_its_recording() -> None:
    recorded_later = example_event("labelling.TerritoryLabelled").model_copy(update={
        "labelled_at": datetime(2026, 12, 6, 9, 0, tzinfo=UTC), "decided_on": date(2019, 9, 5)})
    sent = render("cite-labelled", MailContext(recorded_later, RecipientGroup.TROIKA,
                                               TroikaRole.PREFET, VAULX))
    assert "ont décidé, le 5 septembre 2019, de labelliser" in sent.text
    assert "ont décidé, le 5 septembre 2019, de labelliser" in sent.html
    suspended = example_event("labelling.LabelSuspended")  # decided 2 March, from 1 March
    sent = render("label-suspended", MailContext(suspended, RecipientGroup.TROIKA,
                                                 TroikaRole.PREFET, VAULX))
    assert ("ont décidé, le 2 mars 2021, de suspendre le label de la Cité éducative de "
            "Vaulx-en-Velin à compter du 1er mars 2021 ;") in sent.text


def test_a_mail_about_no_territory_says_its_times_are_paris_time() -> None:
    submitted = example_event("labelling.CandidatureSubmitted", 2)
    context = MailContext(submitted, RecipientGroup.TROIKA, TroikaRole.PREFET, "Vaulx")
    assert environment().from_string("{{ at|datetime_fr }}").render(
        {**context.variables(), "time_zone": french.PARIS, "zone_said": True, "at": FILED}
    ) == f"6 décembre 2026 à 23{NBSP}h{NBSP}27, heure de Paris"
    rejected = example_event("labelling.CandidatureRejected")
    sent = render("candidature-rejected", MailContext(
        rejected, RecipientGroup.TROIKA, TroikaRole.PREFET, "Vaulx", filed_at=FILED))
    assert f"déposée le 6 décembre 2026 à 23{NBSP}h{NBSP}27, heure de Paris" in sent.text


def test_the_rejection_refers_to_the_candidature_by_territory_departement_and_filing() -> None:
    rejected = realistic(example_event("labelling.CandidatureRejected"), None)
    sent = render("candidature-rejected", MailContext(
        rejected, RecipientGroup.TROIKA, TroikaRole.RECTEUR, "Le Port", departement="974",
        filed_at=FILED))
    assert (f"Candidature concernée : territoire «{NBSP}Le Port{NBSP}» (département 974), "
            f"déposée le 7 décembre 2026 à 2{NBSP}h{NBSP}27, heure de La Réunion.") in sent.text
    assert "pour la vague 2024 ; la coordination nationale vous le notifie." in sent.text


def test_a_new_partner_is_named_with_its_kind_and_a_payment_names_its_commitment() -> None:
    joined = example_event("partners.PartnerJoinedAlliance").model_copy(
        update={"partner_kind": PartnerKind.ASSOCIATION})
    sent = render("partner-joined-alliance", MailContext(
        joined, RecipientGroup.CHEF_DE_FILE, cite_name=VAULX, partner=PARTNER))
    assert sent.subject == f"{VAULX} : Les Petits Débrouillards rejoint l’alliance éducative"
    assert "de la Cité éducative de Vaulx-en-Velin : Les Petits Débrouillards, association." in (
        sent.text)
    assert "<strong>Les Petits Débrouillards</strong>, association." in sent.html
    left = example_event("partners.PartnerLeftAlliance")
    sent = render("partner-left-alliance", MailContext(
        left, RecipientGroup.CHEF_DE_FILE, cite_name=VAULX, partner=PARTNER))
    assert ": Les Petits Débrouillards, association." in sent.text
    paid = example_event("funding.PaymentMade")
    sent = render("payment-made", MailContext(paid, RecipientGroup.PAYEE, cite_name=VAULX,
                                              commitment=COMMITMENT))
    reference = (f"au titre de l’engagement de 40{NNBSP}000,00{NBSP}€ pris le 3 mars 2026 "
                 f"pour l’action «{NBSP}Ateliers scientifiques du mercredi{NBSP}»")
    assert reference in sent.text and reference in sent.html.replace("&nbsp;", NBSP)
    unknown = render("payment-made", replace(MailContext(paid, RecipientGroup.PAYEE,
                                                         cite_name=VAULX), commitment=None))
    assert "engagement" not in unknown.text and not UUID_PATTERN.search(unknown.text)
