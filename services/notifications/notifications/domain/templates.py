"""Rendering a notification: the French mail a rule's template makes of an event's facts.

Each template is two files in ``notifications/templates/``:

- ``<name>.txt`` extends ``_layout.txt`` and defines the ``subject`` block (one line) and
  the ``body`` block of the plain-text part;
- ``<name>.html`` extends ``_layout.html`` and defines the ``body`` block of the HTML part.

The layouts hold what every mail shares: the opening suited to the recipient ("Madame,
Monsieur le Préfet,"), repeated in the closing, the recipient's capacity and the signature.
Dates and times read in the territory's time zone (the ``date_fr`` and ``datetime_fr``
filters). ``.html`` files are autoescaped, ``.txt`` files are not. Undefined variables
raise (``StrictUndefined``): a template that reads a fact the event does not have fails its
test, not at send time. Rendering is pure: templates are read from the package, nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any, Final

from jinja2 import (
    Environment,
    PackageLoader,
    StrictUndefined,
    UndefinedError,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context
from jinja2.utils import missing
from pydantic import BaseModel

from cites_contracts.types import TroikaRole, time_zone_of

from . import french
from .rules import RecipientGroup

__all__ = ["UNNAMED_CITE", "KnownCommitment", "KnownPartner", "MailContext", "RenderedMail",
           "environment", "render", "template_names"]

_RECIPIENTS: Final[dict[RecipientGroup, str]] = {
    RecipientGroup.TROIKA: "membre de la troïka",
    RecipientGroup.CHEF_DE_FILE: "collège chef de file",
    RecipientGroup.NEW_MEMBER: "nouveau membre de l’alliance éducative",
    RecipientGroup.LEAVING_MEMBER: "partenaire ayant quitté l’alliance éducative",
    RecipientGroup.ALLIANCE_MEMBERS: "membre de l’alliance éducative",
    RecipientGroup.OPERATOR: "porteur de l’action financée",
    RecipientGroup.PAYEE: "bénéficiaire du paiement",
}
"""The capacity in which a recipient of each group is written to."""

_PRINCIPAL: Final = "le Principal"
"""The title a mail to the collège chef de file's contacts opens with: its principal runs
the cité with the chef de projet."""

UNNAMED_CITE: Final = "Cité éducative"
"""What a mail calls a cité whose name the projection does not know (never its id)."""


@dataclass(frozen=True, slots=True)
class RenderedMail:
    """A mail ready to send: a one-line subject, the plain-text and the HTML parts."""

    subject: str
    text: str
    html: str


@dataclass(frozen=True, slots=True)
class KnownPartner:
    """A partner as the registry's events name it: the mails' reference to it."""

    name: str
    kind: str


@dataclass(frozen=True, slots=True)
class KnownCommitment:
    """A commitment as ``FundsCommitted`` told it: a payment's mail refers to it by its
    action, amount and day rather than by its id."""

    action_title: str
    amount: int
    committed_at: datetime


@dataclass(frozen=True, slots=True)
class MailContext:
    """What a template may read.

    ``facts`` is the event (or the facts of a scheduled rule), seen by templates as
    ``event`` (its ``model_dump()``). The rest is what the projection knows of what the
    event is about, for references a reader understands (never an id):

    - ``cite_name``: the cité's, or for a candidature the territory's; when not given,
      taken from the facts (``name``, ``territory_name``), else :data:`UNNAMED_CITE`
      (templates see ``known_name`` none then);
    - ``departement``: where the cité is, whose time zone every date and time is shown in
      (when unknown: Paris, and a time says so);
    - ``filed_at``: when the candidature was filed;
    - ``partner``: the partner an alliance or money event is about;
    - ``commitment``: the commitment a payment settles.

    ``troika_role`` says which member of the troïka a TROIKA mail is for.
    """

    facts: BaseModel
    recipient: RecipientGroup
    troika_role: TroikaRole | None = None
    cite_name: str | None = None
    departement: str | None = None
    filed_at: datetime | None = None
    partner: KnownPartner | None = None
    commitment: KnownCommitment | None = None

    def variables(self) -> dict[str, object]:
        event = self.facts.model_dump()
        departement = self.departement or event.get("departement")
        known_name = self.cite_name or event.get("name") or event.get("territory_name")
        return {
            "event": event,
            "recipient": self.recipient.value,
            "recipient_label": self._recipient_label(),
            "appel": french.appel(self._title()),
            "troika_role": None if self.troika_role is None else self.troika_role.value,
            "known_name": known_name,
            "cite_name": known_name or UNNAMED_CITE,
            "departement": departement,
            "time_zone": time_zone_of(departement) if departement else french.PARIS,
            "zone_said": not departement,
            "filed_at": self.filed_at,
            "partner": self.partner,
            "commitment": self.commitment,
        }

    def _recipient_label(self) -> str:
        if self.recipient is RecipientGroup.TROIKA and self.troika_role is not None:
            return french.troika_role(self.troika_role)
        return _RECIPIENTS[self.recipient]

    def _title(self) -> str | None:
        """The office the opening names: the troïka member's, the principal's for the
        collège chef de file; none for a partner's contact."""
        if self.recipient is RecipientGroup.TROIKA and self.troika_role is not None:
            return french.troika_title(self.troika_role)
        if self.recipient is RecipientGroup.CHEF_DE_FILE:
            return _PRINCIPAL
        return None


def _setting(context: Context, name: str) -> Any:
    """A variable the filters need from the mail's context; undefined, it fails the
    render as a template's own variable would."""
    value = context.resolve_or_missing(name)
    if value is missing:
        raise UndefinedError(f"'{name}' is undefined")
    return value


@pass_context
def _date_fr(context: Context, day: date) -> str:
    """A day; a moment's day where the territory is."""
    return french.date_fr(day, _setting(context, "time_zone"))


@pass_context
def _datetime_fr(context: Context, moment: datetime) -> str:
    """A moment where the territory is, naming the zone unless Paris (Paris named too when
    the mail is about no territory)."""
    zone = _setting(context, "time_zone")
    return french.datetime_fr(moment, zone, say_zone=_setting(context, "zone_said") or None)


def etablissement(schools: list[dict[str, object]], uai: str) -> str:
    """A school of a perimeter by its UAI: ``Collège Aimé Césaire (UAI 0693874L)``."""
    for school in schools:
        if school["uai"] == uai:
            return f"{school['name']} (UAI{french.NBSP}{uai})"
    return f"UAI{french.NBSP}{uai}"


@cache
def environment() -> Environment:
    """The templates' Jinja2 environment: strict, HTML autoescaped, French filters."""
    env = Environment(
        loader=PackageLoader("notifications", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        euros=french.euros,
        date_fr=_date_fr,
        datetime_fr=_datetime_fr,
        vague=french.vague,
        guillemets=french.guillemets,
        la_cite=french.la_cite,
        liste=french.liste,
        nombre=french.nombre,
        troika_role=french.troika_role,
        programme=french.programme,
        alliance_role=french.alliance_role,
        partner_kind=french.partner_kind,
        freeze_reason=french.freeze_reason,
        closure_reason=french.closure_reason,
        criterion=french.criterion,
        etablissement=etablissement,
    )
    return env


def template_names() -> set[str]:
    """Every template with both parts (layouts, named ``_…``, excluded)."""
    files = [f for f in environment().list_templates() if not f.startswith("_")]
    stems = {f.rsplit(".", 1)[0] for f in files}
    return {s for s in stems if f"{s}.txt" in files and f"{s}.html" in files}


def render(template: str, context: MailContext) -> RenderedMail:
    """The mail ``template`` makes of ``context``; ``jinja2.UndefinedError`` if the
    template reads a variable the context does not have."""
    env = environment()
    variables = context.variables()
    text = env.get_template(f"{template}.txt")
    subject_block = text.blocks["subject"](text.new_context(dict(variables)))
    # One line, whatever the facts hold: a newline in a subject would start a new header.
    # (Only line breaks and ASCII spaces go: the no-break spaces of the French stay.)
    subject = re.sub(" +", " ", " ".join("".join(subject_block).splitlines())).strip()
    variables["subject"] = subject
    return RenderedMail(
        subject=subject,
        text=text.render(variables).strip() + "\n",
        html=env.get_template(f"{template}.html").render(variables),
    )
