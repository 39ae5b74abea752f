"""Mail, across processes: labelling, partners, funding and notifications run as
``python -m …`` on the real Kafka and PostgreSQL, and notifications mails a real SMTP sink
(``deploy/local/smtp_sink.py``) that each test runs itself, on a port of its own, so that
it can stop it and start it again; the sink keeps each message it accepts as one ``.eml``.

What is checked is what a recipient and an operator see: the messages in the sink (their
recipients, French subjects and bodies, ``Message-ID``), notifications' delivery log
(``GET /notifications``) and its audit events on ``notifications.deliveries``; and it is
checked against what the test caused (the cités it labelled, the troïkas it named), so a
mail lost or sent twice is seen.

1. A cité's life, from its candidature to a payment: each mail the rules ask for reaches
   its recipient once, in French.
2. The SMTP server away for 30 s while cités are labelled: every mail delivered once after
   it returns, none failed.
3. Notifications SIGKILLed while it sends a burst of ~200 mails: every one delivered, the
   doubles (same ``Message-ID``) within the bound ``sender.py`` documents — at most the
   messages in flight, ``NOTIFICATIONS_SEND_BATCH``, per crash.

These runs found that notifications lost mail to the order between topics (a label
applied before its candidature, a troïka's card after the mail to her, the lead collège
never told of its label); fixed, and held by
``services/notifications/tests/test_cross_topic_order.py``.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from e2e_platform import (
    NATIONAL,
    NOTIFICATIONS_SETTINGS,
    PREFECTURE_69,
    WAVE,
    Platform,
    SmtpSink,
    first_year_share,
    running_platform,
)

from cites_runtime.testing import eventually, read_topic
from cites_runtime.testing.infra import Infra

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

SEND_BATCH = int(NOTIFICATIONS_SETTINGS["NOTIFICATIONS_SEND_BATCH"])
"""The most a sender has in flight, so the most a crash may send twice (``sender.py``)."""
MESSAGE_ID = re.compile(r"^<([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
                        r"@notifications\.cites-educatives\.gouv\.fr>$")
PARIS = ZoneInfo("Europe/Paris")
YEAR = datetime.now(PARIS).year
NBSP, NNBSP = "\u00a0", "\u202f"
ROLES = ("prefet", "recteur", "maire")


@pytest.fixture
async def everything(infra: Infra, tmp_path: Path, smtp_sink: SmtpSink
                     ) -> AsyncIterator[Platform]:
    """The four services, notifications mailing the test's ``smtp_sink``."""
    async with running_platform(infra, tmp_path, funding=True, notifications=True,
                                smtp=smtp_sink.address) as running:
        yield running


# --- 1. a cité's life, mailed ------------------------------------------------------------

NAME = "Vénissieux – Les Minguettes"
LEAD_UAI = "0691999X"
COLLEGE = {"kind": "college", "name": "Collège Elsa Triolet", "uai": LEAD_UAI,
           "departement": "69", "commune_insee_code": "69259"}
TROIKA = {"prefet": "prefet.minguettes@rhone.gouv.fr",
          "recteur": "recteur.minguettes@ac-lyon.fr",
          "maire": "cabinet.du.maire@ville-venissieux.fr"}
PRINCIPAL = "principale.0691999x@ac-lyon.fr"
ANIMATRICE = "anne.martin@petits-debrouillards.org"
OPENINGS = {TROIKA["prefet"]: "Madame, Monsieur le Préfet",
            TROIKA["recteur"]: "Madame, Monsieur le Recteur",
            TROIKA["maire"]: "Madame, Monsieur le Maire",
            PRINCIPAL: "Madame, Monsieur le Principal"}
"""How each recipient's mails open: its office's title; a partner's contact has none."""
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


async def test_a_cites_life_mails_each_recipient_the_rules_name_once_in_french(
    everything: Platform, smtp_sink: SmtpSink,
) -> None:
    platform, sink = everything, smtp_sink
    # The lead collège is a partner with a consenting contact before the label, so that
    # it is told when its alliance opens (as its chef de file).
    college = await platform.register_partner(COLLEGE)
    principal = await platform.add_contact(college, "Hélène Durand", PRINCIPAL)
    await platform.wait_addresses(college, 1)

    cite = await platform.label(LEAD_UAI, territory=NAME, lead_name=COLLEGE["name"],
                                troika=[{"role": r, "email": e} for r, e in TROIKA.items()])
    alliance = await platform.wait_alliance(cite)
    assert alliance["chef_de_file"]["partner_id"] == college
    await sink.wait_mail(PRINCIPAL, "alliance éducative ouverte")

    # Funding: the year's envelopes, then the yearly check funds the cité (notifications
    # knows its chef de file by now).
    await platform.wait_funds(cite, lambda c: c["status"] == "active", "known")
    for programme, amount in (("P147", 40_000_000_00), ("P230", 1_000_000_00)):
        await open_envelope(platform, programme, amount)
    check = await platform.funds.post("/yearly-check", headers=NATIONAL)
    assert check.status_code == 200, check.text
    funded = await platform.wait_funds(cite, lambda c: bool(c["allocations"] and c["fonds"]),
                                       "funded")
    allocation = funded["allocations"][0]
    dotation = first_year_share(250_000_00)  # labelled today: prorated from today
    assert (allocation["programme"], allocation["amount"]) == ("P147", dotation)

    # An association with a consenting contact joins; the préfecture commits 500 € to its
    # action (less than a dotation labelled on 31 December holds) and pays it 200 €.
    asso = await platform.register_partner({
        "kind": "association", "name": "Les Petits Débrouillards", "siret": "73282932000074",
        "commune_insee_code": "69259"})
    animatrice = await platform.add_contact(asso, "Anne Martin", ANIMATRICE)
    await platform.wait_addresses(asso, 1)
    joined = await platform.par.post(f"/alliances/{cite}/members", headers=NATIONAL,
                                     json={"partner_id": asso, "roles": ["action_operator"]})
    assert joined.status_code == 201, joined.text
    commitment = await commit(platform, cite, allocation["allocation_id"], asso, 500_00)
    paid = await platform.funds.post(f"/commitments/{commitment}/payments",
                                     headers=PREFECTURE_69, json={"amount": 200_00})
    assert paid.status_code == 201, paid.text

    # What the rules table asks for, recipient by recipient: (template, address); the chef
    # de file is told of the label once notifications knows the alliance (another topic).
    troika = [*TROIKA.values()]
    expected = Counter(
        [("candidature-received", a) for a in troika]
        + [("cite-labelled", a) for a in [*troika, PRINCIPAL]]
        + [("alliance-opened", PRINCIPAL)]
        + [("funds-allocated", a) for a in [*troika, PRINCIPAL]]
        + [("fonds-de-la-cite-granted", a) for a in [*troika, PRINCIPAL]]
        + [("partner-joined-alliance", a) for a in (PRINCIPAL, ANIMATRICE)]
        + [("funds-committed", ANIMATRICE), ("payment-made", ANIMATRICE)])
    log = await all_sent(platform, sink, sum(expected.values()), missing=lambda: Counter(
        a for _, a in expected.elements()) - Counter(m["To"] for m in sink.mails()))
    mails = sink.mails()
    by_id = {n["notification_id"]: n for n in log}
    address = {("troika", r): a for r, a in TROIKA.items()} | {
        ("partner_contact", principal): PRINCIPAL, ("partner_contact", animatrice): ANIMATRICE}

    # One message per notification of the log, under its id, to its recipient.
    ids = Counter(_notification_id(m) for m in mails)
    assert ids == Counter({i: 1 for i in by_id}), "each notification mailed exactly once"
    told: Counter[tuple[str, str]] = Counter()
    for mail in mails:
        n = by_id[_notification_id(mail)]
        r = n["recipient"]
        to = address[(r["kind"], r["troika_role"] or r["contact_id"])]
        assert (mail["To"], mail["X-Envelope-To"]) == (to, to)
        assert mail["From"] == "Cités éducatives <ne-pas-repondre@cites-educatives.gouv.fr>"
        assert mail["Auto-Submitted"] == "auto-generated"
        assert mail["Subject"] == n["subject"]
        assert n["status"] == "sent" and n["sent_at"] is not None
        told[(n["template"], to)] += 1
        if r["kind"] == "partner_contact":
            partner = college if r["contact_id"] == principal else asso
            assert r["partner_id"] == partner
    assert told == expected

    # In French, with the cité's name and its accents, in the subject and both bodies.
    subjects = {(n["template"], address[(n["recipient"]["kind"],
                                         n["recipient"]["troika_role"]
                                         or n["recipient"]["contact_id"])]): n["subject"]
                for n in log}
    assert subjects[("candidature-received", TROIKA["prefet"])] == (
        f"Candidature «{NBSP}{NAME}{NBSP}» : accusé de réception")
    assert subjects[("cite-labelled", TROIKA["maire"])] == (
        f"{NAME} : label «{NBSP}Cité éducative{NBSP}» attribué")
    assert subjects[("alliance-opened", PRINCIPAL)] == f"{NAME} : alliance éducative ouverte"
    assert subjects[("funds-allocated", TROIKA["recteur"])] == (
        f"{NAME} : dotation {YEAR} de {_euros(dotation)}")
    assert subjects[("fonds-de-la-cite-granted", PRINCIPAL)] == (
        f"{NAME} : fonds de la cité {YEAR}")
    assert subjects[("partner-joined-alliance", ANIMATRICE)].startswith(f"{NAME} : ")
    assert subjects[("funds-committed", ANIMATRICE)] == (
        f"{NAME} : engagement de 500,00{NBSP}€")
    assert subjects[("payment-made", ANIMATRICE)] == (
        f"{NAME} : paiement de 200,00{NBSP}€")
    # Each opens as its recipient's office is addressed, and shows no internal id.
    for mail in mails:
        text, html = _bodies(mail)
        opening = OPENINGS.get(mail["To"], "Madame, Monsieur")
        assert text.startswith(f"{opening},"), text[:80]
        assert f"<p>{opening},</p>" in html
        assert NAME in text and NAME in html, (mail["Subject"], text)
        assert "La coordination nationale des Cités éducatives" in text
        assert "Ã" not in text + html + mail["Subject"]  # no UTF-8 read as Latin-1
        for part in (mail["Subject"], text, html):
            assert not UUID.search(part) and cite not in part and WAVE not in part, part
    labelled = next(m for m in mails if m["To"] == TROIKA["prefet"]
                    and "attribué" in m["Subject"])
    text, _ = _bodies(labelled)
    assert f"Le label de la cité éducative «{NBSP}{NAME}{NBSP}» (département 69)" in text
    assert ("les ministres chargés de la ville et de l’éducation nationale ont décidé, le "
            in text and "; la coordination nationale vous le notifie." in text)
    assert "en qualité de préfet" in text
    joined = next(m for m in mails if m["To"] == PRINCIPAL and "rejoint" in m["Subject"])
    assert joined["Subject"] == f"{NAME} : Les Petits Débrouillards rejoint l’alliance éducative"
    assert "Les Petits Débrouillards, association." in _bodies(joined)[0]
    payment = next(m for m in mails if "paiement" in m["Subject"])
    assert re.search(f"au titre de l’engagement de 500,00{NBSP}€ pris le "
                     f"[0-9]+(er)? [a-zéû]+ {YEAR} pour l’action «{NBSP}Ateliers "
                     f"scientifiques du mercredi{NBSP}»", _bodies(payment)[0])

    # The audit on Kafka: one NotificationSent per notification, none failed.
    sent, failed = await deliveries(platform, len(log))
    assert set(sent) == set(by_id) and {len(e) for e in sent.values()} == {1}
    assert failed == {}


def _euros(cents: int) -> str:
    """As the mails write an amount: ``17 123,00 €`` (narrow no-break spaces in thousands,
    a no-break space before the sign)."""
    return f"{cents // 100:,}".replace(",", NNBSP) + f",{cents % 100:02d}{NBSP}€"


# --- 2. the SMTP server away for 30 s ----------------------------------------------------

OUTAGE_S = 30.0


async def test_mail_pending_while_the_smtp_server_is_away_30s_is_delivered_once_after(
    platform_with_notifications: Platform, smtp_sink: SmtpSink,
) -> None:
    platform, sink = platform_with_notifications, smtp_sink
    before, during = range(0, 5), range(5, 15)
    # 1. Five cités labelled: their troïkas told as the mail comes.
    await label_all(platform, before)
    await eventually(lambda: _at_least(sink, 6), timeout=60, what="the first mails")
    # 2. The server stops (SIGTERM: it ends the session in progress) and ten more cités
    #    are labelled while it is away; their mail waits, tried again and again.
    sink.stop()
    stopped = time.monotonic()
    in_sink = sink.count()
    await label_all(platform, during)

    async def retrying() -> bool:
        return any(n["status"] == "pending" and "injoignable" in (n["last_error"] or "")
                   for n in await platform.delivery_log())

    await eventually(retrying, timeout=OUTAGE_S, what="mail retried while the server is away")
    await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped)))
    waiting = {n["notification_id"] for n in await platform.delivery_log()
               if n["status"] != "sent"}
    away = time.monotonic() - stopped
    # 3. Back on the same port, with the same maildir.
    sink.start()
    back = time.monotonic()

    async def delivered() -> bool:
        return waiting <= set(_ids(sink)) or await _none_failed(platform)

    expected = expected_troika_mails(range(15))
    await _explained(platform, delivered, 60, "the waiting mail delivered",
                     missing=lambda: _missing(sink, expected))
    recovery = time.monotonic() - back
    log = await all_sent(platform, sink, sum(expected.values()),
                         missing=lambda: _missing(sink, expected))
    mails = sink.mails()
    ids = [_notification_id(m) for m in mails]
    sent, failed = await deliveries(platform, len(log))
    print(f"\n[notifications e2e, SMTP outage] 15 cités, {len(log)} "
          f"notifications; server away {away:.1f} s with {len(waiting)} waiting "
          f"({in_sink} in the sink when it stopped); after its return all delivered in "
          f"{recovery:.1f} s; {len(mails)} messages, "
          f"{len(ids) - len(set(ids))} doubles; attempts up to "
          f"{max(n['attempts'] for n in log)}")

    assert waiting, "no mail was waiting for the server"
    assert not waiting & set(ids[:in_sink]), "mail 'waiting' was in the sink before it stopped"
    assert away >= OUTAGE_S
    # Every (event, recipient) delivered, none twice.
    assert Counter((m["To"], m["Subject"]) for m in mails) == expected
    assert Counter(ids) == Counter({n["notification_id"]: 1 for n in log})
    assert {n["status"] for n in log} == {"sent"}
    assert max(n["attempts"] for n in log) > 1  # retried, then sent
    assert set(sent) == set(ids) and {len(e) for e in sent.values()} == {1}
    assert failed == {}


# --- 3. notifications killed while it sends ----------------------------------------------

BURST_CITES = 34  # 2 events mailing 3 signatories each: 204 notifications
KILL_AT = 40  # messages in the sink when notifications is killed


async def test_notifications_killed_while_sending_200_mails_delivers_each_doubles_within_bound(
    platform_with_notifications: Platform, smtp_sink: SmtpSink,
) -> None:
    platform, sink = platform_with_notifications, smtp_sink
    notifications = platform.notifications
    assert notifications is not None
    expected = expected_troika_mails(range(BURST_CITES))
    total = sum(expected.values())
    started = time.monotonic()
    labelling = asyncio.create_task(label_all(platform, range(BURST_CITES)))
    try:
        await eventually(lambda: _at_least(sink, KILL_AT), timeout=120, every=0.01,
                         what=f"{KILL_AT} mails sent")
        notifications.kill()
        killed = time.monotonic()
        at_kill = sink.count()
        await notifications.start()
        restarted = time.monotonic()
        await labelling
    finally:
        if not labelling.done():
            labelling.cancel()

    async def delivered() -> bool:
        if sink.count() >= total and len(set(_ids(sink))) >= total:
            return True
        return await _none_failed(platform)

    await _explained(platform, delivered, 120, f"{total} mails delivered",
                     missing=lambda: _missing(sink, expected))
    recovered = time.monotonic()
    # The log, event by event: each event that mails its troïka mailed its three seats.
    causes = await notifying_events(platform, BURST_CITES * 2)
    log: list[dict[str, Any]] = []
    for cause in causes:
        told = await platform.delivery_log(cause_event_id=cause)
        assert sorted(n["recipient"]["troika_role"] for n in told) == sorted(ROLES), cause
        log += told
    await eventually(lambda: _all_sent(platform, causes), timeout=60, every=0.5,
                     what="every notification recorded sent")
    mails = sink.mails()
    ids = Counter(_notification_id(m) for m in mails)
    doubles = {i: c - 1 for i, c in ids.items() if c > 1}
    sent, failed = await deliveries(platform, total)
    print(f"\n[notifications e2e, crash] {len(causes)} events mailing {total} notifications "
          f"({BURST_CITES} cités); killed with {at_kill} in the sink; {len(set(ids))} "
          f"delivered, {len(mails)} messages, {sum(doubles.values())} doubles (bound: "
          f"{SEND_BATCH}); all delivered {recovered - restarted:.1f} s after the restart "
          f"({recovered - killed:.1f} s after the kill, {recovered - started:.1f} s after "
          f"the first label)")

    assert KILL_AT <= at_kill < total  # killed while sending
    assert notifications.starts == 2
    # Every (event, recipient) delivered: the log's ids are the messages' ids, every one
    # sent, and each recipient got each of its mails.
    assert len(log) == total and set(ids) == {n["notification_id"] for n in log}
    distinct = {_notification_id(m): (m["To"], m["Subject"]) for m in mails}
    assert Counter(distinct.values()) == expected
    # Doubles: the same message again (same Message-ID, recipient, subject), each at most
    # once more, at most SEND_BATCH for the one crash.
    for i in doubles:
        copies = [m for m in mails if _notification_id(m) == i]
        assert len({(m["To"], m["Subject"], _bodies(m)) for m in copies}) == 1
    assert set(doubles.values()) <= {1}
    assert sum(doubles.values()) <= SEND_BATCH
    assert set(sent) == set(ids) and {len(e) for e in sent.values()} == {1}
    assert failed == {}


# --- helpers -----------------------------------------------------------------------------


async def open_envelope(platform: Platform, programme: str, amount: int) -> None:
    """The programme's envelope of the year, and its credits (AE and CP of the amount)
    delegated to the Rhône, where the commitments and payments are made."""
    response = await platform.funds.post("/envelopes", headers=NATIONAL, json={
        "name": f"{WAVE} {YEAR} {programme}", "programme": programme,
        "budget_years": [YEAR], "wave_ids": [WAVE], "amount": amount})
    assert response.status_code == 201, response.text
    response = await platform.funds.post("/credits", headers=NATIONAL, json={
        "programme": programme, "year": YEAR, "ae": amount, "cp": amount})
    assert response.status_code == 200, response.text
    response = await platform.funds.post(
        f"/credits/{programme}/{YEAR}/delegations", headers=NATIONAL,
        json={"departement": "69", "ae": amount, "cp": amount})
    assert response.status_code == 200, response.text


async def commit(platform: Platform, cite: str, allocation: str, operator: str, amount: int
                 ) -> str:
    """Commit ``amount`` to the operator's action, once funding knows it joined (a 409
    until then; the Idempotency-Key makes the retries one commitment)."""
    found: dict[str, Any] = {}

    async def committed() -> bool:
        response = await platform.funds.post(
            f"/cites/{cite}/commitments", headers={**PREFECTURE_69,
                                                   "Idempotency-Key": f"ateliers-{cite}"},
            json={"allocation_id": allocation, "operator_partner_id": operator,
                  "action_title": "Ateliers scientifiques du mercredi", "amount": amount,
                  "legal_act": {"kind": "arrete", "reference": f"AR-{cite}",
                                "signed_on": datetime.now(PARIS).date().isoformat()}})
        assert response.status_code in (200, 201, 409), response.text
        found.update(response.json())
        return response.status_code in (200, 201)

    await eventually(committed, timeout=60, every=0.2, what="the commitment accepted")
    return str(found["commitment_id"])


async def label_all(platform: Platform, cites: range, concurrency: int = 8) -> None:
    """Label one cité per number, each signed by a troïka of its own."""
    slots = asyncio.Semaphore(concurrency)

    async def label(n: int) -> None:
        async with slots:
            await platform.label(f"09{n:05d}N", territory=territory(n), troika=[
                {"role": r, "email": e} for r, e in troika_of(n).items()])

    await asyncio.gather(*(label(n) for n in cites))


def territory(n: int) -> str:
    return f"Saint-Étienne-des-Prés {n}"


def troika_of(n: int) -> dict[str, str]:
    return {"prefet": f"prefet.{n}@rhone.gouv.fr", "recteur": f"recteur.{n}@ac-lyon.fr",
            "maire": f"maire.{n}@mairie-saint-etienne-des-pres.fr"}


def expected_troika_mails(cites: range) -> Counter[tuple[str, str]]:
    """(To, Subject) of every mail the cités' troïkas are due once labelled: the
    candidature's acknowledgement and the label, to each signatory, once."""
    expected: Counter[tuple[str, str]] = Counter()
    for n in cites:
        name = territory(n)
        for address in troika_of(n).values():
            expected[(address, f"Candidature «{NBSP}{name}{NBSP}» : accusé de réception")] += 1
            expected[(address, f"{name} : label «{NBSP}Cité éducative{NBSP}» attribué")] += 1
    return expected


async def all_sent(platform: Platform, sink: SmtpSink, n: int, *,
                   missing: Callable[[], object]) -> list[dict[str, Any]]:
    """The delivery log once it holds ``n`` notifications, all sent and each in the sink;
    then read again a little later (a mail written or sent late would show). ``missing``
    says which mail is not in the sink, should it time out."""
    async def done() -> bool:
        log = await platform.delivery_log()
        if (len(log) >= n and all(x["status"] == "sent" for x in log)
                and {x["notification_id"] for x in log} <= set(_ids(sink))):
            return True
        return await _none_failed(platform)

    await _explained(platform, done, 90, f"{n} notifications sent", missing=missing)
    await asyncio.sleep(1.0)
    log = await platform.delivery_log()
    assert len(log) == n, f"{len(log)} notifications in the log, {n} expected"
    return log


async def deliveries(platform: Platform, n: int
                     ) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """notification id → the event ids of its NotificationSent, and of its
    NotificationFailed, on ``notifications.deliveries`` (read once ``n`` were sent)."""
    def by_notification(records: list[Any], kind: str) -> dict[str, set[str]]:
        found: dict[str, set[str]] = defaultdict(set)
        for r in records:
            envelope = json.loads(r.value)
            if envelope["type"] == kind:
                found[envelope["data"]["notification_id"]].add(envelope["event_id"])
        return found

    records = await read_topic(
        platform.kafka, platform.topic("notifications.deliveries"), timeout=60,
        until=lambda rs: len(by_notification(rs, "notifications.NotificationSent")) >= n)
    await asyncio.sleep(0.5)
    records = await read_topic(platform.kafka, platform.topic("notifications.deliveries"),
                               timeout=60)
    return (by_notification(records, "notifications.NotificationSent"),
            by_notification(records, "notifications.NotificationFailed"))


async def notifying_events(platform: Platform, n: int) -> list[str]:
    """The event ids of labelling's CandidatureSubmitted and TerritoryLabelled (each mails
    the troïka), read from Kafka: ``n`` of them."""
    def mailing(records: list[Any]) -> list[str]:
        ids = []
        for r in records:
            envelope = json.loads(r.value)
            if envelope["type"] in ("labelling.CandidatureSubmitted",
                                    "labelling.TerritoryLabelled"):
                ids.append(envelope["event_id"])
        return list(dict.fromkeys(ids))

    found: list[str] = []
    for topic in ("labelling.candidatures", "labelling.labels"):
        found += mailing(await read_topic(platform.kafka, platform.topic(topic), timeout=60))
    assert len(found) == n, f"{len(found)} events mailing the troïka, {n} expected"
    return found


async def _all_sent(platform: Platform, causes: list[str]) -> bool:
    for cause in causes:
        if any(n["status"] != "sent" for n in await platform.delivery_log(cause_event_id=cause)):
            return False
    return True


def _notification_id(mail: EmailMessage) -> str:
    return _id_of(str(mail["Message-ID"]))


def _id_of(message_id: str) -> str:
    """The notification id a Message-ID ``<notification_id@domain>`` carries."""
    found = MESSAGE_ID.match(message_id)
    assert found, f"not a notification's Message-ID: {message_id!r}"
    return found.group(1)


def _ids(sink: SmtpSink) -> list[str]:
    """The notification id of every message in the sink, in arrival order."""
    return [_id_of(m) for m in sink.message_ids()]


async def _none_failed(platform: Platform) -> bool:
    """False (not done yet: wait on), unless a notification of the log (its first 200)
    failed: then an AssertionError naming them, since waiting longer would not help."""
    failed = [n for n in await platform.delivery_log() if n["status"] == "failed"]
    unknown = any("jamais connue" in (n["last_error"] or "") for n in failed)
    assert not failed, f"{len(failed)} notification(s) failed: " + "; ".join(
        f"{n['template']} to {n['recipient']}: {n['last_error']}" for n in failed[:5]) + (
        " — the known fault test_a_troika_card_consumed_after_its_candidature_still_gets_"
        "the_acknowledgement" if unknown else "")
    return False


async def _explained(platform: Platform, check: Callable[[], Awaitable[bool]],
                     timeout: float, what: str, *, missing: Callable[[], object]) -> None:
    """``eventually(check)``; when it times out, say what the log shows not sent (its first
    200 notifications) and what ``missing`` says the sink lacks."""
    try:
        await eventually(check, timeout=timeout, every=0.2, what=what)
    except AssertionError as timed_out:
        unsent = Counter((n["status"], (n["last_error"] or "")[:80])
                         for n in await platform.delivery_log() if n["status"] != "sent")
        raise AssertionError(f"{timed_out}; not sent (status, last error): {dict(unsent)}; "
                             f"not in the sink: {missing()}") from None


def _missing(sink: SmtpSink, expected: Counter[tuple[str, str]]) -> str:
    """The (To, Subject) pairs expected and not (or not all) in the sink."""
    mails = Counter((m["To"], m["Subject"]) for m in sink.mails())
    missing = expected - mails
    told = {to for to, _ in mails}
    hint = ("; labels mailed to no one while their troïka was acknowledged — the known fault "
            "test_a_label_consumed_before_its_candidature_is_still_mailed_to_the_troika"
            if any("attribué" in subject and to in told for to, subject in missing) else "")
    return f"{dict(missing)}{hint}"


async def _at_least(sink: SmtpSink, n: int) -> bool:
    return sink.count() >= n


def _bodies(mail: EmailMessage) -> tuple[str, str]:
    """The plain-text and HTML bodies, decoded."""
    plain, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert isinstance(plain, EmailMessage) and isinstance(html, EmailMessage)
    return str(plain.get_content()), str(html.get_content())
