"""One command, seen crossing the platform: a label decision sent with a W3C ``traceparent``
of the test's own, then that trace read back from Jaeger's query API.

The four services run as processes exporting their spans over OTLP to the real Jaeger (the
plugin's ``jaeger`` fixture), at full sampling. What an operator sees is checked: spans from
labelling, partners, funding and notifications under the test's trace id, each consuming
service's handler a child of the producer's publish (for a service applying runs of
labels, the events it publishes in answer), the batches that carried the
decision's events linked to it, the mail sent last in its chain, and the services' log
lines of that command carrying the trace id.
"""

from __future__ import annotations

import json
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_platform import (
    NATIONAL,
    PREFECTURE_69,
    Platform,
    SmtpSink,
    candidature,
    qpv_code,
    running_platform,
)
from labelling.examples import CRITERIA_2024_SCORES

from cites_runtime.testing import eventually
from cites_runtime.testing.infra import Infra, Jaeger

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

SERVICES = ("labelling", "partners", "funding", "notifications")
LEAD_UAI = "0693333T"
PRINCIPAL = "principal.0693333t@ac-lyon.fr"
TROIKA = [{"role": "prefet", "email": "prefet.traces@rhone.gouv.fr"},
          {"role": "recteur", "email": "recteur.traces@ac-lyon.fr"},
          {"role": "maire", "email": "maire.traces@ville.fr"}]


@pytest.fixture
async def traced(infra: Infra, jaeger: Jaeger, tmp_path: Path, smtp_sink: SmtpSink
                 ) -> AsyncIterator[Platform]:
    """The four services, exporting every span to Jaeger, logging at INFO."""
    settings = {"OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.otlp_endpoint,
                **{f"{s.upper()}_LOG_LEVEL": "INFO" for s in SERVICES},
                **{f"{s.upper()}_TRACE_SAMPLE_RATIO": "1.0" for s in SERVICES}}
    async with running_platform(infra, tmp_path, funding=True, notifications=True,
                                smtp=smtp_sink.address, settings=settings) as running:
        yield running


def spans_by_service(trace: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    processes = {pid: p["serviceName"] for pid, p in trace["processes"].items()}
    found: dict[str, list[dict[str, Any]]] = {}
    for span in trace["spans"]:
        found.setdefault(processes[span["processID"]], []).append(span)
    return found


def tag(span: dict[str, Any], key: str) -> Any:
    return next(t["value"] for t in span["tags"] if t["key"] == key)


def parent_of(span: dict[str, Any]) -> str | None:
    return next((r["spanID"] for r in span["references"] if r["refType"] == "CHILD_OF"), None)


async def linked(jaeger: Jaeger, service: str, operation: str, trace_id: str, span_id: str
                 ) -> bool:
    """Whether a span ``operation`` of ``service``, in a trace of its own, links to
    ``span_id`` of ``trace_id`` (a link is a ``FOLLOWS_FROM`` reference in Jaeger's API)."""
    async with httpx.AsyncClient(timeout=10) as http:
        found = (await http.get(f"{jaeger.query_url}/api/traces", params={
            "service": service, "operation": operation, "lookback": "1h", "limit": 200})).json()
    return any(r == {"refType": "FOLLOWS_FROM", "traceID": trace_id, "spanID": span_id}
               for t in found["data"] for s in t["spans"] if s["operationName"] == operation
               for r in s["references"])


def log_lines(logs: Path, service: str, trace_id: str) -> list[dict[str, Any]]:
    """The service's JSON log lines carrying ``trace_id``."""
    lines = [json.loads(line) for f in sorted(logs.glob(f"{service}-*.log"))
             for line in f.read_text().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("trace_id") == trace_id]


async def decide_with(platform: Platform, traceparent: str) -> str:
    """Draft, submit, review a candidature; then the decision, in the test's trace."""
    body = candidature(LEAD_UAI, "Traces – Les Tilleuls", "Collège Jean Moulin",
                       qpv_code=qpv_code(1))
    body["troika"] = TROIKA
    drafted = await platform.lab.post("/candidatures", json=body, headers=PREFECTURE_69)
    assert drafted.status_code == 201, drafted.text
    path = f"/candidatures/{drafted.json()['id']}"
    for method, step, headers, payload in (
            ("POST", "submission", PREFECTURE_69, None),
            ("PUT", "review", NATIONAL, {"scores": CRITERIA_2024_SCORES})):
        answer = await platform.lab.request(method, f"{path}/{step}", json=payload,
                                            headers=headers)
        assert answer.status_code == 200, answer.text
    decided = await platform.lab.post(f"{path}/decision", headers={
        **NATIONAL, "traceparent": traceparent},
        json={"outcome": "label", "motive": "Dossier solide"})
    assert decided.status_code == 200, decided.text
    return str(decided.json()["cite_id"])


async def test_a_label_decision_is_one_trace_from_the_request_to_the_mail(
        traced: Platform, jaeger: Jaeger, smtp_sink: SmtpSink, tmp_path: Path) -> None:
    platform = traced
    college = await platform.register_partner({
        "kind": "college", "name": "Collège Jean Moulin", "uai": LEAD_UAI,
        "departement": "69", "commune_insee_code": "69259"})
    await platform.add_contact(college, "Hélène Durand", PRINCIPAL)
    await platform.wait_addresses(college, 1)
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)

    cite = await decide_with(platform, f"00-{trace_id}-{caller_span}-01")
    await platform.wait_alliance(cite)
    await smtp_sink.wait_mail(PRINCIPAL, "alliance éducative ouverte")
    await platform.wait_funds(cite, lambda c: c["status"] == "active", "known")

    seen: dict[str, Any] = {}

    async def whole() -> bool:
        async with httpx.AsyncClient(timeout=5) as http:
            answer = await http.get(f"{jaeger.query_url}/api/traces/{trace_id}")
        if answer.status_code != 200:
            return False
        seen.update(answer.json()["data"][0])
        names = Counter(s["operationName"] for s in seen["spans"])
        return (set(spans_by_service(seen)) >= set(SERVICES)
                and names["send mail"] >= 2 + len(TROIKA)
                and names["publish funding.allocations"] > 0)  # may come after the mails

    await eventually(whole, timeout=60, what=f"trace {trace_id} in Jaeger")
    trace = seen
    spans = {s["spanID"]: s for s in trace["spans"]}
    service_of = {s["spanID"]: trace["processes"][s["processID"]]["serviceName"]
                  for s in trace["spans"]}

    def one(service: str, name: str, parent: dict[str, Any] | None = None) -> dict[str, Any]:
        found: list[dict[str, Any]] = [
            s for s in spans.values() if service_of[s["spanID"]] == service
            and s["operationName"] == name
            and (parent is None or parent_of(s) == parent["spanID"])]
        assert len(found) == 1, (service, name, len(found))
        return found[0]

    def ancestors(span: dict[str, Any]) -> list[dict[str, Any]]:
        chain = []
        while (up := parent_of(span)) in spans:
            span = spans[up]
            chain.append(span)
        return chain

    # The request continues the caller's trace; its unit of work publishes the label.
    request = one("labelling", "POST /candidatures/{candidature_id}/decision")
    assert parent_of(request) == caller_span
    published = one("labelling", "publish labelling.labels")
    assert request in ancestors(published)

    # Each consuming service goes on from that publish: notifications' handler is its
    # child; partners and funding apply labels by runs (one call for many events) and
    # their own events continue the trace from the label's.
    one("notifications", "handle labelling.TerritoryLabelled", published)
    answers = {service: [s for s in spans.values() if service_of[s["spanID"]] == service
                         and s["operationName"] == f"publish {topic}"]
               for service, topic in (("partners", "partners.alliances"),
                                      ("funding", "funding.allocations"))}
    for service, published_by in answers.items():
        assert published_by and all(parent_of(s) == published["spanID"]
                                    for s in published_by), service
    alliances = answers["partners"]
    opened = [s for s in spans.values() if s["operationName"] == "handle partners.AllianceOpened"
              and service_of[s["spanID"]] == "notifications"]
    assert len(opened) == 1 and parent_of(opened[0]) in {s["spanID"] for s in alliances}

    # The batches that carried the label, in traces of their own, link to its publish (as
    # do partners' and funding's one call for the batch's labels).
    for service, operation in (("partners", "partners batch"), ("funding", "funding batch"),
                               ("notifications", "notifications batch"),
                               ("partners", "handle labelling.TerritoryLabelled"),
                               ("funding", "handle labelling.TerritoryLabelled")):
        await eventually(partial(linked, jaeger, service, operation, trace_id,
                                 published["spanID"]), timeout=15,
                         what=f"{service}'s {operation} linked to the label's publish")

    # The mails: to the troïka and the lead collège that the territory is labelled, to the
    # chef de file that its alliance is open; each after the handler that wrote it.
    mails = [s for s in spans.values() if s["operationName"] == "send mail"]
    templates = Counter(tag(m, "notification.template") for m in mails)
    assert templates == {"cite-labelled": len(TROIKA) + 1, "alliance-opened": 1}, templates
    for mail in mails:
        cause = spans[parent_of(mail)]  # type: ignore[index]
        assert cause["operationName"].startswith("handle "), cause["operationName"]
        assert mail["startTime"] >= cause["startTime"] + cause["duration"]
        assert request in ancestors(mail)
        assert tag(mail, "notification.outcome") == "sent"
    # The mails end notifications' part of the story. (Not the whole trace's: funding's
    # relay publishes its answer to the label — here the refusal of a dotation no envelope
    # covers — when it publishes, which may be after the last mail.)
    last = max((s for s in spans.values() if service_of[s["spanID"]] == "notifications"),
               key=lambda s: s["startTime"])
    assert last["operationName"] == "send mail", last["operationName"]

    # The log lines of the command carry its trace id and their span's id.
    lines = {name: log_lines(tmp_path, name, trace_id) for name in SERVICES}
    assert [(line["event"], line["route"], line["status"], line["span_id"])
            for line in lines["labelling"] if line["event"] == "request"] \
        == [("request", "/candidatures/{candidature_id}/decision", 200, request["spanID"])]
    sent = [line for line in lines["notifications"] if line["event"] == "mail sent"]
    assert sorted(line["span_id"] for line in sent) == sorted(m["spanID"] for m in mails)
    assert Counter(line["template"] for line in sent) == templates
