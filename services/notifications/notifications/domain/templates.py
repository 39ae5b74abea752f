"""Rendering a notification: the French mail a rule's template makes of an event's facts.

Each template is two files in ``notifications/templates/``:

- ``<name>.txt`` extends ``_layout.txt`` and defines the ``subject`` block (one line) and
  the ``body`` block of the plain-text part;
- ``<name>.html`` extends ``_layout.html`` and defines the ``body`` block of the HTML part.

The layouts hold what every mail shares: "Madame, Monsieur,", the recipient's capacity and
the signature. ``.html`` files are autoescaped, ``.txt`` files are not. Undefined variables
raise (``StrictUndefined``): a template that reads a fact the event does not have fails its
test, not at send time. Rendering is pure: templates are read from the package, nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Final

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from pydantic import BaseModel

from cites_contracts.types import TroikaRole

from . import french
from .rules import RecipientGroup

__all__ = ["MailContext", "RenderedMail", "environment", "render", "template_names"]

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


@dataclass(frozen=True, slots=True)
class RenderedMail:
    """A mail ready to send: a one-line subject, the plain-text and the HTML parts."""

    subject: str
    text: str
    html: str


@dataclass(frozen=True, slots=True)
class MailContext:
    """What a template may read.

    ``facts`` is the event (or the facts of a scheduled rule), seen by templates as
    ``event`` (its ``model_dump()``). ``cite_name`` is the cité's name from the projection
    — for a candidature, the territory's; when not given it is taken from the facts
    (``name``, ``territory_name``), else the cité's id. ``troika_role`` says which member
    of the troïka a TROIKA mail is for; ``partner_name`` names the partner an alliance or
    money event is about, when the projection knows it.
    """

    facts: BaseModel
    recipient: RecipientGroup
    troika_role: TroikaRole | None = None
    cite_name: str | None = None
    partner_name: str | None = None

    def variables(self) -> dict[str, object]:
        event = self.facts.model_dump()
        return {
            "event": event,
            "recipient": self.recipient.value,
            "recipient_label": self._recipient_label(),
            "troika_role": None if self.troika_role is None else self.troika_role.value,
            "cite_name": self.cite_name
            or event.get("name")
            or event.get("territory_name")
            or event.get("cite_id"),
            "partner_name": self.partner_name,
        }

    def _recipient_label(self) -> str:
        if self.recipient is RecipientGroup.TROIKA and self.troika_role is not None:
            return french.troika_role(self.troika_role)
        return _RECIPIENTS[self.recipient]


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
        date_fr=french.date_fr,
        datetime_fr=french.datetime_fr,
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
