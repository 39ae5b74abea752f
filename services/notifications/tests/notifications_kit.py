"""Test kit of the notifications service: builders of the events it consumes (a troïka's
contact cards and its candidature, a cité's label; any other event is the contracts'
``cites_contracts.testing.event``), webhook subscriptions and their verification by the
specification's library, a real SMTP server in the test's own process, and where the
mails it sent landed. Tokens and the service under test are the runtime's
(``cites_runtime.testing``).

(Named ``notifications_kit`` so it never shadows another suite's helper on sys.path.)
"""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from email.message import Message
from typing import Any, Protocol
from uuid import UUID, uuid4

from aiosmtpd.controller import Controller
from standardwebhooks.webhooks import Webhook

from cites_contracts.events.labelling import (
    CandidatureSubmitted,
    Perimeter,
    PerimeterCommune,
    PerimeterQpv,
    PerimeterSchool,
    TerritoryLabelled,
    TroikaContactPublished,
    TroikaSeat,
    Wave,
)
from cites_contracts.testing import event
from cites_contracts.types import (
    ActorRole,
    EducationPriority,
    LabelPeriod,
    QpvList,
    SchoolKind,
    TroikaRole,
)
from cites_runtime.testing import AS_NATIONAL, ServiceUnderTest

AT = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


def troika_cards(candidature: UUID, tag: str, *, territory_name: str = "Vaulx-en-Velin",
                 departement: str = "69", submitted_at: datetime = AT,
                 ) -> tuple[list[TroikaContactPublished], CandidatureSubmitted]:
    """A candidature's three troïka contact cards (addresses ``<role>.<tag>@…``) and its
    submission, which seats them (the benchmark of the sender prepares its mails with it
    too: ``bench/notifications_bench.py``); the territory's perimeter is of the Rhône
    whatever ``departement`` says, which only the mails read."""
    seats = {role: uuid4() for role in (TroikaRole.PREFET, TroikaRole.RECTEUR,
                                        TroikaRole.MAIRE)}
    cards = [TroikaContactPublished(contact_id=cid, candidature_id=candidature, role=role,
                                    email=f"{role.value}.{tag}@example.gouv.fr",
                                    published_at=AT) for role, cid in seats.items()]
    submitted = CandidatureSubmitted(
        candidature_id=candidature, territory_name=territory_name, departement=departement,
        wave=Wave(id="2024-generalisation", year=2024),
        perimeter=Perimeter(
            communes=(PerimeterCommune(insee_code="69256", name="Vaulx-en-Velin"),),
            qpv_list=QpvList.LIST_2024,
            qpvs=(PerimeterQpv(code="QN06901M", name="Mas du Taureau", population=8000),),
            schools=(PerimeterSchool(uai="0693874L", kind=SchoolKind.COLLEGE,
                                     name="Collège Aimé Césaire",
                                     education_priority=EducationPriority.REP_PLUS),)),
        lead_college_uai="0693874L",
        troika=tuple(TroikaSeat(role=r, contact_id=c) for r, c in seats.items()),
        submitted_by=ActorRole.PREFECTURE, submitted_at=submitted_at)
    return cards, submitted


def labelled(submitted: CandidatureSubmitted, *, start: date = date(2025, 1, 1),
             end: date = date(2027, 12, 31)) -> TerritoryLabelled:
    """The label of ``submitted``'s territory (a new cité id), for ``start`` to ``end``."""
    return event(TerritoryLabelled, cite_id=f"cite-{uuid4().int % 1_000_000:06d}",
                 candidature_id=submitted.candidature_id, name=submitted.territory_name,
                 wave=submitted.wave, departement=submitted.departement,
                 perimeter=submitted.perimeter, lead_college_uai=submitted.lead_college_uai,
                 label_period=LabelPeriod(start=start, end=end), labelled_at=AT)


# --- webhooks -------------------------------------------------------------------------------

LABELLED = "labelling.TerritoryLabelled"


async def subscribe(service: ServiceUnderTest, url: str, *types: str, **more: Any
                    ) -> dict[str, Any]:
    """A webhook subscription to ``url`` (for ``types``, labels by default), made by the
    national role: its JSON."""
    answer = await service.http.post("/webhooks", headers=AS_NATIONAL, json={
        "url": url, "event_types": list(types or [LABELLED]), **more})
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


async def a_cite_labelled(service: ServiceUnderTest, times: int = 1) -> TerritoryLabelled:
    """A cité labelled (its candidature's cards and submission first); the label event
    delivered ``times`` times, as a redelivering broker would."""
    candidature = uuid4()
    cards, submitted = troika_cards(candidature, uuid4().hex[:8])
    label = TerritoryLabelled(
        cite_id=f"cite-{uuid4().int % 1_000_000:06d}", candidature_id=candidature,
        name="Vaulx-en-Velin", wave=Wave(id="2024-generalisation", year=2024),
        departement="69", perimeter=submitted.perimeter, lead_college_uai="0693874L",
        label_period=LabelPeriod.model_validate({"start": "2025-01-01", "end": "2027-12-31"}),
        decided_by=ActorRole.NATIONAL_COORDINATION,
        labelled_at=submitted.submitted_at)
    await service.publish(*cards, submitted)
    env = service._wrap(label)
    for _ in range(times):
        await service.publish(env)
    return label


def verified(secret: str, headers: dict[str, str], body: bytes) -> Any:
    """What the specification's library makes of a request: the payload, or it raises."""
    return Webhook(secret).verify(body, {k: headers[k] for k in (
        "webhook-id", "webhook-timestamp", "webhook-signature")})


class Recording:
    """An SMTP server's handler (aiosmtpd) keeping what it accepts, or refusing every
    recipient with ``refuse`` (e.g. ``550 5.1.1 mailbox unavailable``)."""

    def __init__(self, refuse: str | None = None):
        self.refuse = refuse
        self.messages: list[Message] = []
        self.greetings = 0  # one EHLO per connection

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        self.greetings += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: Any) -> str:
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.original_content,
                                                      policy=email.policy.default))
        return "250 Message accepted"


@contextmanager
def smtp_on(port: int, handler: Recording) -> Iterator[Recording]:
    """A real SMTP server on ``port`` of 127.0.0.1 for the block, ``handler`` keeping (or
    refusing) what it is sent."""
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SmtpServer:
    """A real SMTP server in this process, on a free port of 127.0.0.1, keeping what it
    accepts: the isolated tests' mail server (they need nothing but PostgreSQL)."""

    host = "127.0.0.1"

    def __init__(self) -> None:
        self.recording = Recording()
        self.port = free_port()
        self._controller = Controller(self.recording, hostname=self.host, port=self.port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def mails(self, to_containing: str | None = None) -> list[Message]:
        return [m for m in self.recording.messages
                if to_containing is None or to_containing in (m["To"] or "")]


class Mailbox(Protocol):
    """Where sent mails can be read: :class:`SmtpServer`, or the session's SMTP server
    (``Infra.mails``: the native sink's maildir or Mailpit's API)."""

    def mails(self, to_containing: str | None = None) -> list[Message]: ...


def mails_to(mailbox: Mailbox, tag: str) -> list[Message]:
    """The mails ``mailbox`` kept whose recipient holds ``tag``."""
    return mailbox.mails(to_containing=tag)
