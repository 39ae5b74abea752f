"""Every service answers the same refusal the same way: the same status and the same body
shape, because the answers come from the runtime's edge, not from each service. Each of
the four services is driven in memory (real PostgreSQL) with a request that causes each
kind, after what it needs was arranged (requests, and events it consumes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from funding.app import definition as funding
from funding.settings import FundingSettings
from labelling.app import definition as labelling
from labelling.examples import eligible_candidature, territory_labelled
from labelling.settings import LabellingSettings
from notifications.app import definition as notifications
from notifications.settings import NotificationsSettings
from partners.app import definition as partners
from partners.settings import PartnersSettings

from cites_contracts import Event
from cites_runtime.app import ServiceDefinition, build_app
from cites_runtime.settings import ServiceSettings
from cites_runtime.testing import (
    AS_NATIONAL,
    AS_PREFECTURE_69,
    AS_PREFECTURE_93,
    AS_VIEWER,
    in_memory,
)
from cites_runtime.testing.plugin import SettingsFactory

Request = tuple[str, str, dict[str, Any] | None, dict[str, str]]
COLLEGE_93 = {"kind": "college", "name": "Collège Jean Renoir", "uai": "0930123X",
              "commune_insee_code": "93010"}
LABELLED_93 = territory_labelled(92)
"""A cité of Seine-Saint-Denis, labelled 2025–2027, as funding and notifications hear of it."""
CITE_93 = LABELLED_93.cite_id
ENVELOPE = {"name": "Vague 2024 : programme 147", "programme": "P147", "budget_years": [2025],
            "wave_ids": [LABELLED_93.wave.id], "amount": 1_000_000_00}
WEBHOOK = {"url": "http://93.184.215.14/hooks", "event_types": ["labelling.TerritoryLabelled"]}
UNKNOWN = "00000000-0000-4000-8000-000000000001"


@dataclass(frozen=True)
class Case:
    definition: ServiceDefinition
    settings: type[ServiceSettings]
    arrange: list[Request]
    requests: dict[str, Request]
    """Kind of refusal → a request that causes it."""
    events: tuple[Event, ...] = ()
    """Consumed before the requests, to arrange what they act on."""
    overrides: dict[str, Any] = field(default_factory=dict)


CASES = {
    "labelling": Case(labelling, LabellingSettings, [], {
        "unauthenticated": ("GET", "/cites", None, {}),
        "wrong role": ("POST", "/waves/2019/open", None, AS_VIEWER),
        "not found": ("GET", "/cites/cite-999", None, AS_VIEWER),
        "elsewhere": ("POST", "/candidatures", eligible_candidature(), AS_PREFECTURE_93),
        "conflict": ("POST", "/waves/2019/open", None, AS_NATIONAL),
        "rule broken": ("POST", "/candidatures", eligible_candidature(wave_id="2031"),
                        AS_PREFECTURE_69),
        "invalid": ("POST", "/candidatures", {"wave_id": 7}, AS_PREFECTURE_69),
    }),
    "partners": Case(partners, PartnersSettings, [
        ("POST", "/partners", COLLEGE_93, AS_NATIONAL)], {
        "unauthenticated": ("GET", "/partners", None, {}),
        "wrong role": ("POST", "/partners", COLLEGE_93, AS_VIEWER),
        "not found": ("GET", "/partners/00000000-0000-4000-8000-000000000001", None,
                      AS_VIEWER),
        "elsewhere": ("POST", "/partners", {**COLLEGE_93, "uai": "0930456Y"},
                      AS_PREFECTURE_69),
        "conflict": ("POST", "/partners", {**COLLEGE_93, "kind": "lycee"}, AS_NATIONAL),
        "rule broken": ("POST", "/partners", {"kind": "association", "name": "Sans SIRET"},
                        AS_NATIONAL),
        "invalid": ("POST", "/partners", {"kind": "castle"}, AS_NATIONAL),
    }),
    "funding": Case(funding, FundingSettings, [
        ("POST", "/envelopes", ENVELOPE, AS_NATIONAL)], {
        "unauthenticated": ("GET", "/cites", None, {}),
        "wrong role": ("POST", "/envelopes", ENVELOPE, AS_VIEWER),
        "not found": ("GET", f"/envelopes/{UNKNOWN}", None, AS_VIEWER),
        "elsewhere": ("POST", f"/cites/{CITE_93}/cofinancing",
                      {"year": 2025, "funder": "Ville de Bondy", "amount": 10_000_00},
                      AS_PREFECTURE_69),
        "conflict": ("POST", "/envelopes", ENVELOPE, AS_NATIONAL),
        "rule broken": ("POST", f"/cites/{CITE_93}/cofinancing",
                        {"year": 2031, "funder": "Ville de Bondy", "amount": 10_000_00},
                        AS_PREFECTURE_93),
        "invalid": ("POST", "/envelopes", {**ENVELOPE, "programme": "P999"}, AS_NATIONAL),
    }, events=(LABELLED_93,)),
    "notifications": Case(notifications, NotificationsSettings, [
        ("POST", "/webhooks", WEBHOOK, AS_NATIONAL)], {
        "unauthenticated": ("GET", "/notifications", None, {}),
        "wrong role": ("POST", "/webhooks", WEBHOOK, AS_VIEWER),
        "not found": ("GET", f"/webhooks/{UNKNOWN}", None, AS_NATIONAL),
        "elsewhere": ("GET", f"/notifications?cite_id={CITE_93}", None, AS_PREFECTURE_69),
        "conflict": ("POST", "/webhooks", WEBHOOK, AS_NATIONAL),
        "rule broken": ("POST", "/webhooks", {**WEBHOOK, "url": "ftp://example.org/hooks"},
                        AS_NATIONAL),
        "invalid": ("POST", "/webhooks", {**WEBHOOK, "url": 7}, AS_NATIONAL),
    }, events=(LABELLED_93,), overrides={"send_interval_s": 3600.0}),
}
STATUS = {"unauthenticated": 401, "wrong role": 403, "not found": 404, "elsewhere": 403,
          "conflict": 409, "rule broken": 422, "invalid": 422}


def _shape(body: Any) -> Any:
    """What a client parses: the keys and the types, not the words."""
    if isinstance(body, dict):
        return {k: _shape(v) for k, v in body.items() if k not in ("input", "ctx", "url")}
    if isinstance(body, list):
        return [_shape(body[0])] if body else []
    return type(body).__name__


@pytest.mark.parametrize("service", sorted(CASES))
async def test_every_kind_of_refusal_answers_alike_in_every_service(
        service: str, service_settings: SettingsFactory) -> None:
    case = CASES[service]
    answers: dict[str, tuple[int, Any]] = {}
    settings = service_settings(case.settings, **case.overrides)
    async with in_memory(case.definition, settings) as running:
        await running.publish(*case.events)
        for method, path, body, headers in case.arrange:
            assert (await running.http.request(method, path, json=body,
                                               headers=headers)).status_code < 300
        for kind, (method, path, body, headers) in case.requests.items():
            r = await running.http.request(method, path, json=body, headers=headers)
            answers[kind] = (r.status_code, r.json())

    assert {k: status for k, (status, _) in answers.items()} == STATUS
    for kind in ("unauthenticated", "wrong role", "not found", "elsewhere", "conflict"):
        assert _shape(answers[kind][1]) == {"detail": "str"}, kind
    for kind in ("rule broken", "invalid"):
        assert _shape(answers[kind][1]) == {"detail": [{"loc": ["str"], "type": "str",
                                                        "msg": "str"}]}, kind
        assert answers[kind][1]["detail"][0]["loc"][0] == "body", kind
    assert answers["elsewhere"][1]["detail"].startswith("the préfecture of ")
    assert "acts only in its own département" in answers["elsewhere"][1]["detail"]
    assert answers["unauthenticated"][1]["detail"].startswith("missing Authorization header")


WHOLE = {("dashboard", "/opendata/cites.json"): "an open-data file: the whole dataset",
         ("notifications", "/rules"): "the rules table, fixed by the code"}
"""The lists answered whole, by design (the README's paging statement names them)."""


@pytest.mark.parametrize("service", sorted(CASES))
def test_every_list_is_read_a_page_at_a_time_but_the_documents_answered_whole(
        service: str, service_settings: SettingsFactory) -> None:
    case = CASES[service]
    document = build_app(case.definition, service_settings(case.settings)).openapi()
    lists, pages = [], []
    for path, operations in document["paths"].items():
        answer = operations.get("get", {}).get("responses", {}).get("200", {})
        schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
        if schema.get("type") == "array":
            lists.append(path)
        elif schema.get("$ref", "").split("/")[-1].startswith("Page_"):
            pages.append(path)
            page = document["components"]["schemas"][schema["$ref"].split("/")[-1]]
            assert sorted(page["properties"]) == ["items", "next_cursor"], path
            parameters = {p["name"] for p in operations["get"].get("parameters", [])}
            assert {"cursor", "limit"} <= parameters, path
    assert lists == [path for (name, path) in WHOLE if name == service]
    assert pages, f"{service} has no list read a page at a time"
