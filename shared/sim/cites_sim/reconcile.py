"""The reconciliation: what a run did (its :class:`~.simulate.Run`), read back from the
services' APIs, from the Kafka topics and from the SMTP sink, compared figure by figure.

:func:`reconcile` returns a :class:`Report` (plain data: ``report.to_dict()`` for JSON, a
dashboard's test can compare its page with it); ``report.differences`` names every figure
that does not agree, empty when everything reconciles:

- **cités** — per status (active, suspended, withdrawn, expired), funded, in labelling,
  partners (alliances), funding, and the events; every cité's status agrees across them;
- **money per envelope** — allocated (dotations), fonds de la cité, committed, paid,
  frozen, released, remaining: as the simulation expects them (each dotation by its
  envelope's rule), as funding's ledger reports them, and as summed from the events;
- **notifications** — for each event that notifies, as many as the rules and the run's
  recipients give (the troïka, the partners' consenting contacts), each sent, each once in
  the SMTP sink (by its Message-ID) and once as ``NotificationSent``;
- **years** — per year of the programme, the cités labelled (by their decision's date)
  and the dotations allocated (by budget year): as the simulation expects them, as
  labelling and funding's statements say, and from the events;
- **queues** — every consumer group's lag zero and every dead-letter topic empty."""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx

from cites_contracts import Envelope, Event

from .kafka import health, read_events, wait_settled
from .platform import Api, Endpoints
from .simulate import EnvelopeRecord, Run, dotation_of

__all__ = ["MONEY", "CountRow", "MoneyRow", "Report", "YearRow", "euros", "expected_money",
           "reconcile"]

MONEY = ("allocated", "fonds", "fonds_used", "committed", "paid", "frozen", "released",
         "ordered_back", "recovered", "remaining")
SOURCES = ("simulation", "funding API", "events")
COUNT_SOURCES = ("simulation", "labelling", "partners", "funding", "events")


@dataclass
class CountRow:
    measure: str
    values: dict[str, int | None]
    """Source → figure (None: the source does not say)."""

    def agrees(self) -> bool:
        return len({v for v in self.values.values() if v is not None}) <= 1


@dataclass
class MoneyRow:
    envelope_id: str
    programme: str
    wave_id: str
    amount: int
    figures: dict[str, dict[str, int]]
    """Source → {allocated, fonds, committed, paid, frozen, released, remaining} (cents)."""


@dataclass
class YearRow:
    year: int
    measure: str
    """One of :data:`YEAR_MEASURES`."""
    values: dict[str, int]
    """Source → figure."""

    def agrees(self) -> bool:
        return len(set(self.values.values())) <= 1


@dataclass
class Report:
    run_id: str
    seconds: float
    counts: list[CountRow] = field(default_factory=list)
    money: list[MoneyRow] = field(default_factory=list)
    years: list[YearRow] = field(default_factory=list)
    notifications: dict[str, int] = field(default_factory=dict)
    lag: dict[str, int] = field(default_factory=dict)
    dead_letters: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    """Producer → events of this run on the topics."""
    phases: list[tuple[str, float]] = field(default_factory=list)
    """(phase, seconds) of the run, in order."""
    notes: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _get(e: Envelope[Event], name: str) -> Any:
    value = getattr(e.data, name, None)
    return str(value) if value is not None else None


def distinct(events: Iterable[Envelope[Event]]) -> tuple[list[Envelope[Event]], int]:
    """Each event once, in topic order, and how many repeats were set aside: the relay
    publishes at least once, so a broker restart can leave the same ``event_id`` twice on a
    topic, and the consumers apply it once — as this count does."""
    seen: set[UUID] = set()
    once, repeats = [], 0
    for e in events:
        if e.event_id in seen:
            repeats += 1
        else:
            seen.add(e.event_id)
            once.append(e)
    return once, repeats


def in_scope(events: Iterable[Envelope[Event]], run: Run) -> list[Envelope[Event]]:
    """The run's events: those naming one of its cités, candidatures, partners or
    envelopes."""
    cites, candidatures = set(run.cites), run.candidatures
    partners, envelopes = set(run.contacts), set(run.envelopes)
    found = []
    for e in events:
        if (_get(e, "cite_id") in cites or _get(e, "candidature_id") in candidatures
                or _get(e, "partner_id") in partners or _get(e, "envelope_id") in envelopes):
            found.append(e)
    return found


# --- money --------------------------------------------------------------------------------


def expected_money(run: Run) -> dict[str, dict[str, int]]:
    """Each envelope's figures as the simulation expects them from what it did."""
    out: dict[str, dict[str, int]] = {}
    for e in run.envelopes.values():
        cites = [c for c in run.cites.values() if c.wave_id == e.wave_id]
        f = dict.fromkeys(MONEY, 0)
        for c in cites:
            years = [y for y in c.years if y in e.budget_years]
            due = sum(dotation_of(e.dotation_rule, c.requested, c.population, y,
                                  c.label_start) for y in years)
            f["allocated"] += due
            f["fonds"] += e.fonds_share * len(years)
            f["fonds_used"] += sum(_share_of(run, e, amount)
                                   for year, amount in c.fonds_uses if year in e.budget_years)
            if e.programme == "P147" and due:
                f["committed"] += c.committed
                f["paid"] += c.paid
                f["ordered_back"] += c.ordered_back
                f["recovered"] += c.recovered
                left = due - c.committed
                if c.status in ("suspended", "expired"):
                    f["frozen"] += left
                elif c.status == "withdrawn":
                    f["released" if c.released else "frozen"] += left
        f["remaining"] = e.amount - f["allocated"] - f["fonds"] + f["released"]
        out[e.envelope_id] = f
    return out


@dataclass
class _Keys:
    """What the money events name, learnt from the events: each envelope's amount and the
    (programme, wave, year) it covers, each allocation's envelope, each commitment's
    allocation, each cité's wave."""

    amount: dict[str, int] = field(default_factory=dict)
    covers: dict[tuple[str, str, int], str] = field(default_factory=dict)
    allocation_envelope: dict[str, str] = field(default_factory=dict)
    commitment_allocation: dict[str, str] = field(default_factory=dict)
    wave_of: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, events: list[Envelope[Event]]) -> _Keys:
        k = cls()
        for e in events:
            d: Any = e.data
            match e.type:
                case "funding.EnvelopeOpened":
                    k.amount[str(d.envelope_id)] = d.amount
                    for w in d.wave_ids:
                        for y in d.budget_years:
                            k.covers[(d.programme.value, w, y)] = str(d.envelope_id)
                case "funding.EnvelopeAmended":
                    k.amount[str(d.envelope_id)] = d.amount
                case "labelling.TerritoryLabelled":
                    k.wave_of[d.cite_id] = d.wave.id
                case "funding.FundsAllocated":
                    k.allocation_envelope[str(d.allocation_id)] = str(d.envelope_id)
                case "funding.FundsCommitted":
                    k.commitment_allocation[str(d.commitment_id)] = str(d.allocation_id)
        return k


def _share_of(run: Run, e: EnvelopeRecord, amount: int) -> int:
    """The part of a use of the fonds de la cité that ``e``'s programme gives, as funding
    splits it: each programme by its contribution, rounded down, the last taking the rest
    (the simulation makes one use per grant)."""
    shares = {x.programme: x.fonds_share for x in run.envelopes.values()
              if x.wave_id == e.wave_id}
    first, *rest = sorted(shares)
    p147 = amount * shares[first] // sum(shares.values())
    return p147 if e.programme == first or not rest else amount - p147


def events_money(events: list[Envelope[Event]], run: Run) -> dict[str, dict[str, int]]:
    """Each envelope's figures summed from the events of ``funding.*``."""
    out: dict[str, dict[str, int]] = {eid: dict.fromkeys(MONEY, 0) for eid in run.envelopes}
    k = _Keys.of(events)
    amount, covers, wave_of = k.amount, k.covers, k.wave_of
    allocation_envelope, commitment_allocation = k.allocation_envelope, k.commitment_allocation
    for e in events:
        d: Any = e.data

        def add(envelope: str | None, figure: str, cents: int) -> None:
            if envelope in out:
                out[envelope][figure] += cents

        match e.type:
            case "funding.FundsAllocated":
                add(str(d.envelope_id), "allocated", d.amount)
            case "funding.AllocationRevised":
                add(str(d.envelope_id), "allocated", d.amount - d.previous_amount)
            case "funding.FondsDeLaCiteGranted":
                for c in d.contributions:
                    add(covers.get((c.programme.value, wave_of.get(d.cite_id, ""), d.year)),
                        "fonds", c.amount)
            case "funding.FundsCommitted":
                add(allocation_envelope.get(str(d.allocation_id)), "committed", d.amount)
            case "funding.CommitmentCancelled":
                add(allocation_envelope.get(str(d.allocation_id)), "committed", -d.returned)
            case "funding.PaymentMade":
                add(allocation_envelope.get(str(d.allocation_id)), "paid", d.amount)
            case "funding.PastSpendingImported":
                envelope = allocation_envelope.get(str(d.allocation_id))
                add(envelope, "committed", d.committed)
                add(envelope, "paid", d.paid)
                add(envelope, "frozen", -d.from_frozen)
            case "funding.FundsFrozen":
                for a in d.frozen:
                    add(allocation_envelope.get(str(a.allocation_id)), "frozen", a.amount)
            case "funding.FundsUnfrozen":
                for a in d.unfrozen:
                    add(allocation_envelope.get(str(a.allocation_id)), "frozen", -a.amount)
            case "funding.FundsReleased":
                for r in d.released:
                    add(str(r.envelope_id), "frozen", -r.amount)
                    add(str(r.envelope_id), "released", r.amount)
            case "funding.FondsUsed":
                for c in d.drawn:
                    add(covers.get((c.programme.value, wave_of.get(d.cite_id, ""), d.year)),
                        "fonds_used", c.amount)
            case "funding.RecoveryOrdered" | "funding.RecoveryReceived":
                figure = "ordered_back" if e.type == "funding.RecoveryOrdered" else "recovered"
                add(allocation_envelope.get(
                    commitment_allocation.get(str(d.commitment_id), "")), figure, d.amount)
    for eid, f in out.items():
        f["remaining"] = amount.get(eid, 0) - f["allocated"] - f["fonds"] + f["released"]
    return out


async def api_money(api: Api, run: Run) -> dict[str, dict[str, int]]:
    report = await api.call("funding", "GET", "/reports/consumption",
                            token=api.tokens.viewer, ok=(200,))
    out: dict[str, dict[str, int]] = {}
    for e in report["envelopes"]:
        if e["envelope_id"] in run.envelopes:
            t = e["totals"]
            out[e["envelope_id"]] = {**{k: int(t.get(k, 0)) for k in MONEY if k != "remaining"},
                                     "remaining": int(e["remaining"])}
    return out


# --- cités --------------------------------------------------------------------------------

ENDED = "ended"
"""What partners says of an alliance whose label was withdrawn or expired: closed."""


async def _statuses(api: Api, run: Run) -> dict[str, dict[str, str]]:
    """Service → cité → its status there (only the run's cités)."""
    viewer = api.tokens.viewer
    found: dict[str, dict[str, str]] = {"labelling": {}, "partners": {}, "funding": {}}
    for wave_id in run.waves.values():
        for c in await api.pages("labelling", "/cites", token=viewer, params={"wave": wave_id}):
            found["labelling"][c["cite_id"]] = c["status"]
    back = {"open": "labelled", "suspended": "suspended", "closed": ENDED}
    for a in await api.pages("partners", "/alliances", token=viewer):
        if a["cite_id"] in run.cites:
            found["partners"][a["cite_id"]] = back.get(a["status"], a["status"])
    back = {"active": "labelled"}
    for c in await api.pages("funding", "/cites", token=viewer):
        if c["cite_id"] in run.cites:
            found["funding"][c["cite_id"]] = back.get(c["status"], c["status"])
    return found


async def _funded_by_api(api: Api, run: Run, concurrency: int = 8) -> set[str]:
    gate = asyncio.Semaphore(concurrency)

    async def funded(cite_id: str) -> str | None:
        async with gate:
            c = await api.call("funding", "GET", f"/cites/{cite_id}", token=api.tokens.viewer,
                               ok=(200, 404))
        if c and any(a["programme"] == "P147" for a in c.get("allocations", [])) \
                and c.get("fonds"):
            return cite_id
        return None

    return {c for c in await asyncio.gather(*(funded(c) for c in run.cites)) if c}


def _event_statuses(events: list[Envelope[Event]]) -> tuple[dict[str, str], dict[str, str],
                                                            set[str]]:
    """From the events: each cité's label status, its alliance's (open or closed), and
    the cités funded (a dotation and a fonds)."""
    label: dict[str, str] = {}
    alliance: dict[str, str] = {}
    dotations, fonds = set(), set()
    for e in events:
        cite = _get(e, "cite_id")
        if cite is None:
            continue
        match e.type:
            case "labelling.TerritoryLabelled" | "labelling.LabelReinstated":
                label[cite] = "labelled"
            case "labelling.LabelSuspended":
                label[cite] = "suspended"
            case "labelling.LabelWithdrawn":
                label[cite] = "withdrawn"
            case "labelling.LabelExpired":
                label[cite] = "expired"
            case "partners.AllianceOpened":
                alliance[cite] = "open"
            case "partners.AllianceClosed":
                alliance[cite] = "closed"
            case "funding.FundsAllocated":
                dotations.add(cite)
            case "funding.FondsDeLaCiteGranted":
                fonds.add(cite)
    return label, alliance, dotations & fonds


# --- notifications ------------------------------------------------------------------------


def expected_notifications(events: list[Envelope[Event]], run: Run,
                           rules: list[dict[str, Any]]) -> dict[str, int]:
    """Cause event id → how many notifications it must cause: one per recipient of its
    rules' groups — the troïka's three, each consenting contact the run gave the partners
    a group names."""
    groups: dict[tuple[str, int], set[str]] = defaultdict(set)
    for r in rules:
        groups[(r["event_type"], r["version"])].update(r["recipients"])
    expected: dict[str, int] = {}
    for e in events:
        wanted = groups.get((e.type, e.version))
        if not wanted or e.imported:  # the programme's past, imported: not news
            continue
        cite = run.cites.get(_get(e, "cite_id") or "")
        troika = 3 if "troika" in wanted else 0
        partners: set[str] = set()
        if "chef_de_file" in wanted and cite is not None:
            partners.add(_get(e, "chef_de_file_partner_id") or cite.lead_partner_id)
        for group, name in (("new_member", "partner_id"), ("leaving_member", "partner_id"),
                            ("operator", "operator_partner_id"),
                            ("payee", "payee_partner_id")):
            if group in wanted and (p := _get(e, name)):
                partners.add(p)
        if "alliance_members" in wanted and cite is not None:
            partners.update([cite.lead_partner_id, *cite.members])
        expected[str(e.event_id)] = troika + sum(run.contacts.get(p, 0) for p in partners)
    return expected


def _sink_message_ids(maildir: Path) -> Counter[str]:
    """How many messages the sink holds of each Message-ID (``<id@domain>`` → ``id``)."""
    parser = email.parser.BytesHeaderParser(policy=email.policy.default)
    found: Counter[str] = Counter()
    for path in maildir.glob("*.eml"):
        with path.open("rb") as f:
            mid = str(parser.parse(f)["Message-ID"] or "")
        found[mid.strip().lstrip("<").split("@", 1)[0]] += 1
    return found


async def _mailpit_message_ids(url: str) -> Counter[str]:
    """How many messages Mailpit holds of each Message-ID, read from its HTTP API a page
    at a time (``GET /api/v1/messages``)."""
    found: Counter[str] = Counter()
    async with httpx.AsyncClient(base_url=url.rstrip("/"), timeout=30) as http:
        start = 0
        while True:
            answer = await http.get("/api/v1/messages", params={"start": start, "limit": 500})
            answer.raise_for_status()
            page = answer.json()
            for message in page["messages"]:
                found[str(message["MessageID"]).strip().lstrip("<").split("@", 1)[0]] += 1
            start += len(page["messages"])
            if not page["messages"] or start >= page.get("messages_count", page["total"]):
                return found


async def _notifications(api: Api, run: Run, events: list[Envelope[Event]],
                         endpoints: Endpoints, report: Report) -> None:
    rules = await api.call("notifications", "GET", "/rules", token=api.tokens.national,
                           ok=(200,))
    expected = expected_notifications(events, run, rules)
    log = [n for n in await api.pages("notifications", "/notifications",
                                      token=api.tokens.national)
           if n["cite_id"] in run.cites or str(n["candidature_id"]) in run.candidatures]
    by_cause = Counter(str(n["cause_event_id"]) for n in log)
    sent = [n for n in log if n["status"] == "sent"]
    keys = Counter((str(n["cause_event_id"]), repr(sorted(n["recipient"].items())))
                   for n in log)
    delivered = Counter(str(getattr(e.data, "notification_id", "")) for e in events
                        if e.type == "notifications.NotificationSent")
    figures = {"expected": sum(expected.values()), "in the delivery log": len(log),
               "sent": len(sent), "NotificationSent events": sum(delivered.values())}
    d = report.differences
    wrong = [(cause, want, by_cause.get(cause, 0)) for cause, want in expected.items()
             if by_cause.get(cause, 0) != want]
    unexpected = [c for c in by_cause if c not in expected]
    for cause, want, got in wrong[:10]:
        kind = next(e.type for e in events if str(e.event_id) == cause)
        d.append(f"notifications: event {cause} ({kind}) caused {got} notification(s), "
                 f"{want} expected")
    if len(wrong) > 10:
        d.append(f"notifications: {len(wrong) - 10} more events with another count")
    if unexpected:
        d.append(f"notifications: {len(unexpected)} cause(s) not among the run's notifying "
                 f"events, e.g. {unexpected[0]}")
    twice = [k for k, n in keys.items() if n > 1]
    if twice:
        d.append(f"notifications: {len(twice)} (event, recipient) pair(s) logged twice")
    unsent = Counter(n["status"] for n in log if n["status"] != "sent")
    for status, n in unsent.items():
        d.append(f"notifications: {n} {status}, not sent")
    again = [i for i, n in delivered.items() if n > 1]
    if again:
        d.append(f"notifications: {len(again)} notification(s) with NotificationSent twice")
    ids = {str(n["notification_id"]) for n in sent}
    missing_events = ids - set(delivered)
    if missing_events:
        d.append(f"notifications: {len(missing_events)} sent without a NotificationSent "
                 "event on the topic")
    await _check_sink(endpoints, ids, figures, report)
    report.notifications = figures


async def _check_sink(endpoints: Endpoints, ids: set[str], figures: dict[str, int],
                      report: Report) -> None:
    """Every mail sent is in the SMTP sink once (Mailpit's API, or the maildir)."""
    d = report.differences
    mails: Counter[str] | None = None
    if endpoints.mailpit is not None:
        mails = await _mailpit_message_ids(endpoints.mailpit)
    elif endpoints.maildir is None:
        report.notes.append("no maildir given: the SMTP sink was not read")
    elif not endpoints.maildir.is_dir():
        d.append(f"notifications: the SMTP sink's maildir {endpoints.maildir} does not exist")
    else:
        mails = _sink_message_ids(endpoints.maildir)
    if mails is not None:
        ours = {i: mails[i] for i in ids}
        figures["mails in the SMTP sink"] = sum(ours.values())
        absent = [i for i, n in ours.items() if n == 0]
        doubled = [i for i, n in ours.items() if n > 1]
        if absent:
            d.append(f"notifications: {len(absent)} sent but not in the SMTP sink, e.g. "
                     f"{absent[0]}")
        if doubled:
            d.append(f"notifications: {len(doubled)} mail(s) twice in the SMTP sink, e.g. "
                     f"{doubled[0]}")


# --- the whole report ---------------------------------------------------------------------


def _count_rows(run: Run, statuses: dict[str, dict[str, str]], label_ev: dict[str, str],
                alliance_ev: dict[str, str], funded_api: set[str], funded_ev: set[str]
                ) -> list[CountRow]:
    sim = {c.cite_id: c.status for c in run.cites.values()}

    def count(mapping: dict[str, str], status: str) -> int:
        return sum(1 for s in mapping.values() if s == status)

    rows = [CountRow("cités (labelled, any status now)", {
        "simulation": len(sim), "labelling": len(statuses["labelling"]),
        "partners": len(statuses["partners"]), "funding": len(statuses["funding"]),
        "events": len(label_ev)})]
    names = {"labelled": "active", "suspended": "suspended", "withdrawn": "withdrawn",
             "expired": "expired"}
    for status, name in names.items():
        ended = status in ("withdrawn", "expired")  # partners says closed for both
        rows.append(CountRow(name, {"simulation": count(sim, status),
                                    "labelling": count(statuses["labelling"], status),
                                    "partners": None if ended else count(statuses["partners"],
                                                                         status),
                                    "funding": count(statuses["funding"], status),
                                    "events": count(label_ev, status)}))
    rows.append(CountRow("alliances opened", {"simulation": len(sim), "labelling": None,
                                              "partners": len(statuses["partners"]),
                                              "funding": None, "events": len(alliance_ev)}))
    rows.append(CountRow("alliances closed", {
        "simulation": count(sim, "withdrawn") + count(sim, "expired"), "labelling": None,
        "partners": count(statuses["partners"], ENDED), "funding": None,
        "events": count(alliance_ev, "closed")}))
    rows.append(CountRow("funded (dotation and fonds)", {
        "simulation": len(sim), "labelling": None, "partners": None,
        "funding": len(funded_api), "events": len(funded_ev)}))
    return rows


def _compare_cites(run: Run, statuses: dict[str, dict[str, str]], label_ev: dict[str, str],
                   report: Report) -> None:
    """Each count agrees across the sources, and each cité has its expected status in
    every service and on the topic."""
    d = report.differences
    for row in report.counts:
        if not row.agrees():
            shown = ", ".join(f"{s} {v}" for s, v in row.values.items() if v is not None)
            d.append(f"cités {row.measure}: {shown}")
    for cite in run.cites.values():
        partners = statuses["partners"].get(cite.cite_id)
        seen = {"labelling": statuses["labelling"].get(cite.cite_id),
                "partners": cite.status if partners == ENDED and cite.status in (
                    "withdrawn", "expired") else partners,
                "funding": statuses["funding"].get(cite.cite_id),
                "events": label_ev.get(cite.cite_id)}
        off = {s: v for s, v in seen.items() if v != cite.status}
        if off:
            d.append(f"{cite.cite_id} ({cite.key}) should be {cite.status}: "
                     + ", ".join(f"{s} says {v or 'nothing'}" for s, v in off.items()))



async def _compare_money(api: Api, run: Run, events: list[Envelope[Event]],
                         report: Report) -> None:
    """Each envelope's figures agree: the simulation's, funding's API's, the events'."""
    d = report.differences
    sim_money, api_m, ev_money = expected_money(run), await api_money(api, run), \
        events_money(events, run)
    for eid, e in run.envelopes.items():
        figures = {"simulation": sim_money[eid], "funding API": api_m.get(eid, {}),
                   "events": ev_money[eid]}
        report.money.append(MoneyRow(eid, e.programme, e.wave_id, e.amount, figures))
        for k in MONEY:
            values = {s: f.get(k) for s, f in figures.items()}
            if len(set(values.values())) > 1:
                d.append(f"{e.wave_id} {e.programme} {k}: " + ", ".join(
                    f"{s} {euros(v)}" for s, v in values.items()))


# --- years --------------------------------------------------------------------------------


YEAR_MEASURES = ("cités labelled", "allocated", "committed", "paid", "cofinancing planned",
                 "cofinancing given")
"""What is compared per year: cités by their decision's year, State money (both
programmes, cents) by budget year — its dotations, and what they committed and paid, live
or taken over from before the platform —, and the local authorities' co-financing of the
year, planned and given."""

Years = dict[str, Counter[int]]


def _no_years() -> Years:
    return {m: Counter() for m in YEAR_MEASURES}


def _expected_years(run: Run) -> Years:
    """Each measure per year, as the run expects it."""
    out = _no_years()
    out["cités labelled"].update(c.decided_year for c in run.cites.values())
    for e in run.envelopes.values():
        for c in run.cites.values():
            if c.wave_id == e.wave_id:
                for y in c.years:
                    if y in e.budget_years:
                        out["allocated"][y] += dotation_of(e.dotation_rule, c.requested,
                                                           c.population, y, c.label_start)
    for c in run.cites.values():
        for year, committed, paid in c.past:
            out["committed"][year] += committed
            out["paid"][year] += paid
        for year, planned, given in c.cofinancing:
            out["cofinancing planned"][year] += planned
            out["cofinancing given"][year] += given or 0
        if c.allocation_year is not None:
            out["committed"][c.allocation_year] += sum(a for _, _, a in c.commitments)
            out["paid"][c.allocation_year] += sum(a for _, a in c.payments)
    return out


def _event_years(events: list[Envelope[Event]]) -> Years:
    out, year_of = _no_years(), {}
    for e in events:
        d: Any = e.data
        match e.type:
            case "labelling.TerritoryLabelled":
                out["cités labelled"][(d.decided_on or d.labelled_at.date()).year] += 1
            case "funding.FundsAllocated":
                year_of[d.allocation_id] = d.year
                out["allocated"][d.year] += d.amount
            case "funding.AllocationRevised":
                out["allocated"][d.year] += d.amount - d.previous_amount
            case "funding.FundsCommitted":
                out["committed"][year_of.get(d.allocation_id, 0)] += d.amount
            case "funding.CommitmentCancelled":
                out["committed"][year_of.get(d.allocation_id, 0)] -= d.returned
            case "funding.PaymentMade":
                out["paid"][year_of.get(d.allocation_id, 0)] += d.amount
            case "funding.PastSpendingImported":
                out["committed"][d.year] += d.committed
                out["paid"][d.year] += d.paid
            case "funding.CoFinancingDeclared":
                out["cofinancing planned"][d.year] += d.amount
            case "funding.CoFinancingRealised":
                out["cofinancing given"][d.year] += d.actual
    return out


async def _service_years(api: Api, run: Run, concurrency: int = 8) -> Years:
    """Labelling's decision years of the run's cités, funding's money per budget year from
    each cité's statement."""
    out = _no_years()
    for wave_id in run.waves.values():
        for c in await api.pages("labelling", "/cites", token=api.tokens.viewer,
                                 params={"wave": wave_id}):
            out["cités labelled"][int(c["decided_on"][:4])] += 1
    gate = asyncio.Semaphore(concurrency)

    async def statement(cite_id: str) -> None:
        async with gate:
            s = await api.call("funding", "GET", f"/cites/{cite_id}/statement",
                               token=api.tokens.viewer, ok=(200,))
        for line in s["lines"]:
            for measure in ("allocated", "committed", "paid"):
                out[measure][line["year"]] += line[measure]
        for co in s["cofinancing"]:
            out["cofinancing planned"][co["year"]] += co["amount"]
            out["cofinancing given"][co["year"]] += co["actual"] or 0

    await asyncio.gather(*(statement(c) for c in run.cites))
    return out


async def _compare_years(api: Api, run: Run, events: list[Envelope[Event]],
                         report: Report) -> None:
    """Per year of the programme: each measure, every source."""
    sim, ev, svc = _expected_years(run), _event_years(events), await _service_years(api, run)
    for measure in YEAR_MEASURES:
        service = "labelling" if measure == "cités labelled" else "funding API"
        for year in sorted(set(sim[measure]) | set(ev[measure]) | set(svc[measure])):
            row = YearRow(year, measure, {"simulation": sim[measure][year],
                                          service: svc[measure][year],
                                          "events": ev[measure][year]})
            if not any(row.values.values()):
                continue
            report.years.append(row)
            if not row.agrees():
                report.differences.append(f"{year} {measure}: " + ", ".join(
                    f"{k} {v if measure == 'cités labelled' else euros(v)}"
                    for k, v in row.values.items()))


_REVIEW_MONEY = ("allocated", "fonds", "committed", "paid", "ordered_back", "cofinancing")


async def _funding_year(api: Api, cite_id: str, year: int) -> dict[str, int]:
    """A cité's money of a budget year as funding's statement says it, in a review's terms
    (allocated net of what was released)."""
    s = await api.call("funding", "GET", f"/cites/{cite_id}/statement",
                       token=api.tokens.viewer, ok=(200,))
    lines = [line for line in s["lines"] if line["year"] == year]
    figures = {k: sum(line[k] for line in lines) for k in _REVIEW_MONEY[:-1]}
    figures["allocated"] -= sum(line["released"] for line in lines)
    figures["cofinancing"] = sum(c["amount"] for c in s["cofinancing"] if c["year"] == year)
    return figures


async def _compare_reviews(api: Api, run: Run, report: Report) -> None:
    """Each revue de projet the run filed or left missing, as labelling says it: submitted
    on its day (late or not) with the year's money funding's statement shows, or overdue."""
    d, today = report.differences, run.today
    late = missing = 0
    for cite_id, want in sorted(run.reviews.items()):
        got = await api.call("labelling", "GET", f"/reviews/{want.review_id}",
                             token=api.tokens.viewer, ok=(200,))
        submitted_on = got["submitted_on"] and date.fromisoformat(got["submitted_on"])
        if submitted_on != want.submitted_on or got["late"] != want.late:
            d.append(f"review {want.year} of {cite_id}: submitted {submitted_on} "
                     f"(late {got['late']}), the run submitted it {want.submitted_on}")
        if want.submitted_on is None:
            missing += 1
            if got["overdue"] != (today > want.due_on):
                d.append(f"review {want.year} of {cite_id}: overdue {got['overdue']}")
            continue
        late += want.late
        funding = await _funding_year(api, cite_id, want.year)
        if {k: got["money"][k] for k in _REVIEW_MONEY} != funding:
            d.append(f"review {want.year} of {cite_id}: money {got['money']}, funding's "
                     f"statement {funding}")
    if run.reviews:
        year = next(iter(run.reviews.values())).year
        report.notes.append(f"revues de projet {year}: {len(run.reviews) - missing} "
                            f"submitted ({late} late), {missing} missing, each submitted one's "
                            "money equal to funding's statement of the year")


async def reconcile(endpoints: Endpoints, run: Run, *, api: Api | None = None,
                    settle_timeout: float = 120.0, settle: bool = True) -> Report:
    """Wait (``settle_timeout`` at most) until the platform has settled, then compare."""
    if api is None:
        async with Api.open(endpoints) as client:
            return await reconcile(endpoints, run, api=client, settle_timeout=settle_timeout,
                                   settle=settle)
    if settle:
        h = await wait_settled(endpoints, api, timeout=settle_timeout)
    else:
        h = await health(endpoints, api)
    report = Report(run_id=run.run_id, seconds=run.seconds, phases=list(run.phases))
    d = report.differences
    everything, undecodable = await read_events(endpoints)
    everything, repeats = distinct(everything)
    events = in_scope(everything, run)
    report.events = dict(Counter(e.producer for e in events))
    if undecodable:
        report.notes.append(f"{undecodable} record(s) on the topics could not be decoded")
    if repeats:
        report.notes.append(f"{repeats} record(s) repeated an event already on its topic "
                            "(published at least once, e.g. across a broker restart): "
                            "counted once, as the consumers apply them")

    for c in run.closings:
        report.notes.append(
            f"{c['programme']} {c['year']} closed: {euros(c['lapsed_ae'])} of AE and "
            f"{euros(c['lapsed_cp'])} of CP lapsed; {euros(c['restes_a_payer'])} restes à "
            f"payer on {c['open_commitments']} commitment(s), carried over")

    statuses = await _statuses(api, run)
    label_ev, alliance_ev, funded_ev = _event_statuses(events)
    funded_api = await _funded_by_api(api, run)
    report.counts = _count_rows(run, statuses, label_ev, alliance_ev, funded_api, funded_ev)
    _compare_cites(run, statuses, label_ev, report)

    await _compare_money(api, run, events, report)
    await _compare_years(api, run, events, report)
    await _compare_reviews(api, run, report)
    check = await api.call("funding", "GET", "/ledger/check", token=api.tokens.viewer,
                           ok=(200,))
    if not check["balanced"]:
        d.append(f"funding's ledger does not balance: {check['differences'][:3]}")

    await _notifications(api, run, events, endpoints, report)
    report.lag, report.dead_letters = h.lag, h.dead_letters
    for group, lag in h.lag.items():
        if lag:
            d.append(f"consumer group {endpoints.topic(group)} lags {lag} record(s)")
    for consumer, letters in h.dead_letters.items():
        if letters:
            d.append(f"{endpoints.topic(consumer)}.dlq holds {letters} dead letter(s): "
                     f"python -m {consumer} dlq list")
    return report


def euros(cents: int | None) -> str:
    """``123 456.78 €`` (thin groups, two decimals) for integer cents."""
    if cents is None:
        return "—"
    return f"{cents / 100:,.2f} €".replace(",", " ")

