"""The programme's actors, through the platform's real HTTP APIs.

The waves of the past (2019, 2021, 2022: :data:`.generator.WAVES`) are **imported** with
their real dates: the national coordination plans each as a wave of this run
(``<run>-2019``…, its rule set, filing window, calendar-year labels, the 2015 QPV list),
opens envelopes covering the budget years its labels touch, registers the collèges and
associations, then sends labelling the cités' records (``POST /imports``): candidatures
filed in 2019, decisions of 5 September 2019, conventions, the renewals of 2023–2025 and
the re-applications. Partners opens the alliances and funding funds each budget year of
each label period up to this one, as the live path would have; nobody is mailed about the
past. The généralisation (2024) is played **live, today**: préfectures file candidatures
(draft, submit), the national coordination scores and labels them. Then, for every living
cité, the associations join the alliances and the préfectures commit part of a dotation
and pay; in the first wave the national coordination extends a perimeter, suspends a few
labels (reinstating one), withdraws one and releases its frozen money.

What it did and what it therefore expects is kept in a :class:`Run`, which
:mod:`.reconcile` compares with the services, the topics and the mail — per status, per
envelope and per year."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cites_contracts.types import LabelPeriod

from .generator import WAVES, Programme, Territory, WaveSpec
from .kafka import Health, wait_settled
from .platform import Api, Endpoints, SimError

__all__ = ["CiteRecord", "EnvelopeRecord", "Progress", "ReviewRecord", "Run", "dotation_of",
           "simulate", "taken_codes"]

PARIS = ZoneInfo("Europe/Paris")
LABEL_YEARS = 3
"""A label's length (labelling's ``label_years`` setting, 3 by default)."""

P147_PER_CITE_YEAR = 375_000_00
P147_CAP = 650_000_00
"""The default rule's highest dotation: what a cité can commit at most in a year."""
"""What a P147 envelope holds per cité and budget year (dotation up to 650 k€, 250–400 k€
typically, and its 15 k€ of fonds): 30 M€ a year for 80 cités, the 2019 order of size."""
P230_PER_CITE_YEAR = 18_750_00
"""What a P230 envelope holds per cité and budget year: its 15 k€ of fonds, and a margin."""


@dataclass
class EnvelopeRecord:
    envelope_id: str
    programme: str
    wave_id: str
    amount: int
    budget_years: list[int]
    dotation_rule: dict[str, Any]
    fonds_share: int


@dataclass
class CiteRecord:
    cite_id: str
    key: str
    wave_id: str
    departement: str
    candidature_id: str
    lead_uai: str
    lead_partner_id: str
    requested: int
    population: int
    years: list[int] = field(default_factory=list)
    """The budget years funding funds it for, by now: its label's, up to this one."""
    label_start: date | None = None
    """The day its label started: the dotation of that year is prorated from it."""
    decided_year: int = 0
    """The year of the decision that labelled it."""
    imported: bool = False
    members: list[str] = field(default_factory=list)
    """Partners who joined the alliance (the chef de file aside)."""
    allocation_id: str | None = None
    allocation_year: int | None = None
    """The budget year of the dotation its préfecture commits from."""
    dotation: int = 0
    commitments: list[tuple[str, str, int]] = field(default_factory=list)
    """(commitment id, operator partner id, amount)."""
    payments: list[tuple[str, int]] = field(default_factory=list)
    """(commitment id, amount)."""
    ordered_back: int = 0
    """What its operators' reports left unspent, ordered back (P147)."""
    recovered: int = 0
    """What of that the operators repaid so far."""
    fonds_uses: list[tuple[int, int]] = field(default_factory=list)
    cofinancing: list[tuple[int, int, int | None]] = field(default_factory=list)
    """The commune's co-financing: (year, planned, given — None until recorded)."""
    past: list[tuple[int, int, int]] = field(default_factory=list)
    """The years before the platform taken over: (year, committed, paid) of its P147
    dotation."""
    """(year, amount) the collège used of its fonds de la cité (recorded by the préfecture)."""
    status: str = "labelled"
    """What labelling should say at the end: labelled, suspended, withdrawn or expired."""
    suspensions: int = 0
    reinstatements: int = 0
    extended: bool = False
    released: bool = False

    @property
    def committed(self) -> int:
        """Committed of its P147 dotations: live, and taken over from before the platform."""
        return sum(a for _, _, a in self.commitments) + sum(c for _, c, _ in self.past)

    @property
    def paid(self) -> int:
        return sum(a for _, a in self.payments) + sum(p for _, _, p in self.past)


@dataclass
class ReviewRecord:
    """A revue de projet the simulation filed (or left missing): what labelling must say."""

    review_id: str
    year: int
    due_on: date
    submitted_on: date | None
    """None: never submitted (overdue)."""

    @property
    def late(self) -> bool:
        return self.submitted_on is not None and self.submitted_on > self.due_on


@dataclass
class Run:
    """What one simulation did, and so what the platform must show."""

    run_id: str
    seed: int
    today: date
    waves: dict[str, str] = field(default_factory=dict)
    """Wave label (2019) → the wave id planned for it."""
    envelopes: dict[str, EnvelopeRecord] = field(default_factory=dict)
    cites: dict[str, CiteRecord] = field(default_factory=dict)
    candidatures: set[str] = field(default_factory=set)
    contacts: dict[str, int] = field(default_factory=dict)
    """Partner id → consenting contacts the simulation gave it."""
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    phases: list[tuple[str, float]] = field(default_factory=list)
    """(phase, seconds) in the order they ran."""
    closings: list[dict[str, Any]] = field(default_factory=list)
    """The budget years it closed, as funding answered (``POST …/closing``)."""
    reviews: dict[str, ReviewRecord] = field(default_factory=dict)
    """Cité id → its revue de projet of the closed year (the first wave's cités)."""

    @property
    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    def envelope_of(self, programme: str, wave_id: str) -> EnvelopeRecord | None:
        return next((e for e in self.envelopes.values()
                     if e.programme == programme and e.wave_id == wave_id), None)


class Progress:
    """Where the phases report: a rich progress bar per phase (:mod:`.cli`), or nothing."""

    def phase(self, name: str, total: int) -> Callable[[int], None]:
        """Start a phase of ``total`` steps; returns the function advancing it."""
        return lambda n: None

    def done(self, name: str) -> None:
        pass

    def settling(self, health: Health) -> None:
        pass


def dotation(rule: dict[str, Any], requested: int, population: int) -> int:
    """A cité's yearly dotation by an envelope's rule (funding's rule, as data: the
    ``dotation_rule`` its envelope shows)."""
    kind = rule["kind"]
    if kind == "fixed":
        return int(rule["amount"])
    if kind == "requested_capped":
        if not requested:
            return int(rule["amount"])
        return min(max(requested, int(rule["floor"])), int(rule["cap"]))
    if kind == "population":
        return min(max(int(rule["per_inhabitant"]) * population, int(rule["floor"])),
                   int(rule["cap"]))
    return 0


def dotation_of(rule: dict[str, Any], requested: int, population: int, year: int,
                label_start: date | None) -> int:
    """The dotation of ``year`` by funding's rule: :func:`dotation`, degressive over the
    label's years if the rule says so, prorated from the label's start in the year it
    starts (whole euros), whole the other years."""
    amount = dotation(rule, requested, population)
    if label_start is None:
        return amount
    step, k = int(rule.get("degression_percent", 0)), year - label_start.year
    if step and k > 0:
        percent = max(100 - step * k, int(rule.get("degression_floor_percent", 50)))
        amount = amount * percent // 100 // 100 * 100
    if year != label_start.year:
        return amount
    in_year = (date(year, 12, 31) - date(year, 1, 1)).days + 1
    return amount * ((date(year, 12, 31) - label_start).days + 1) // in_year // 100 * 100


async def taken_codes(api: Api) -> tuple[set[str], set[str]]:
    """The QPV codes held by active cités and pending candidatures, and the UAIs the
    platform knows (perimeters, lead collèges, the partners registry): the generator
    avoids them, so a run never collides with an earlier one."""
    viewer, national = api.tokens.viewer, api.tokens.national
    qpvs: set[str] = set()
    uais: set[str] = set()
    for cite in await api.pages("labelling", "/cites", token=viewer):
        uais.add(cite["lead_college_uai"])
        uais.update(s["uai"] for s in cite["perimeter"]["schools"])
        if cite["status"] in ("labelled", "suspended"):
            qpvs.update(q["code"] for q in cite["perimeter"]["qpvs"])
    for status in ("submitted", "under_review"):
        for c in await api.pages("labelling", "/candidatures", token=national,
                                 params={"status": status}):
            full = await api.call("labelling", "GET", f"/candidatures/{c['id']}",
                                  token=national, ok=(200,))
            qpvs.update(q["code"] for q in full["dossier"]["qpvs"])
            uais.update(s["uai"] for s in full["dossier"]["schools"])
    for kind in ("college", "ecole", "lycee"):
        for p in await api.pages("partners", "/partners", token=viewer, params={"kind": kind}):
            if p.get("uai"):
                uais.add(p["uai"])
    return qpvs, uais


async def _each(items: Iterable[Any], work: Callable[[Any], Awaitable[None]],
                concurrency: int, advance: Callable[[int], None]) -> None:
    """``work(item)`` for every item, ``concurrency`` at a time; the first failure stops
    the phase."""
    gate = asyncio.Semaphore(concurrency)

    async def one(item: Any) -> None:
        async with gate:
            await work(item)
        advance(1)

    try:
        async with asyncio.TaskGroup() as tasks:
            for item in items:
                tasks.create_task(one(item))
    except ExceptionGroup as group:  # the first refusal says what went wrong
        first: BaseException = group
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None


@dataclass
class Simulation:
    api: Api
    endpoints: Endpoints
    programme: Programme
    run: Run
    progress: Progress
    concurrency: int = 8
    settle_timeout: float = 180.0
    by_key: dict[str, CiteRecord] = field(default_factory=dict)
    partner_of: dict[str, str] = field(default_factory=dict)
    """SIRET or UAI → partner id."""
    credited: dict[tuple[int, str], int] = field(default_factory=dict)
    """(year, département) → P147 credits (AE and CP) delegated to it so far."""
    closed_years: set[int] = field(default_factory=set)
    """The years whose P147 credits are closed: nothing is committed on them."""

    # -- helpers ---------------------------------------------------------------------
    async def settle(self, why: str, *, mails: bool = False,
                     consumers: tuple[str, ...] | None = None) -> None:
        """Wait until every event so far is consumed (by ``consumers``, default all; and,
        with ``mails``, every mail sent): the next phase's commands rely on what the
        services learnt from them."""
        started = time.monotonic()
        self.progress.phase(f"settling: {why}", 0)
        await wait_settled(self.endpoints, self.api, timeout=self.settle_timeout,
                           on_look=self.progress.settling, mails=mails, consumers=consumers)
        self.progress.done(f"settling: {why}")
        self.run.phases.append((f"settle: {why}", time.monotonic() - started))

    async def phase(self, name: str, items: list[Any],
                    work: Callable[[Any], Awaitable[None]]) -> None:
        started = time.monotonic()
        advance = self.progress.phase(name, len(items))
        await _each(items, work, self.concurrency, advance)
        self.progress.done(name)
        self.run.phases.append((name, time.monotonic() - started))

    @property
    def national(self) -> str:
        return self.api.tokens.national

    @property
    def kept_since(self) -> int:
        """The first budget year whose credits the platform keeps (last year): the years
        before are the past, their money taken over (:meth:`take_over_past_money`)."""
        return self.run.today.year - 1

    # -- the programme ---------------------------------------------------------------
    async def simulate(self) -> Run:
        for n, (label, territories) in enumerate(self.programme.waves.items()):
            if WAVES[label].imported:
                await self.history(label, territories, first=n == 0)
            else:
                await self.wave(label, territories, first=n == 0)
        last = self.run.today.year - 1
        await self.phase(f"budget year-end: P147 {last} closed", [last], self.year_end)
        await self.revues(next(iter(self.programme.waves)), last)
        await self.settle("the end: every event consumed, every mail sent", mails=True)
        self.run.finished = time.monotonic()
        return self.run

    async def wave(self, label: str, territories: list[Territory], *, first: bool) -> None:
        spec = WAVES[label]
        wave_id = f"{self.run.run_id}-{label}"
        self.run.waves[label] = wave_id
        await self.api.call("labelling", "POST", "/waves", token=self.national, body={
            "id": wave_id, "year": spec.year, "title": f"{spec.title} (jouée aujourd'hui)",
            "rule_set": spec.rule_set, "filing": None, "review_criteria": list(spec.criteria),
            "target_count": len(territories)}, ok=(201,))
        await self.api.call("labelling", "POST", f"/waves/{wave_id}/open", token=self.national,
                            ok=(200,))
        today = self.run.today
        # The years a label decided today touches (funding funds each, one a year).
        await self.open_envelopes(wave_id, len(territories), list(range(
            today.year, LabelPeriod.of_years(today, LABEL_YEARS).end.year + 1)))
        await self.phase(f"{label}: collèges and associations registered", territories,
                         self.register)
        await self.settle(f"{label}: partners known to every service")
        await self.phase(f"{label}: candidatures filed, reviewed, labelled", territories,
                         lambda t: self.label(wave_id, t))
        await self.alliances_at_work(label, territories, first=first)
        await self.api.call("labelling", "POST", f"/waves/{wave_id}/close",
                            token=self.national, ok=(200,))

    async def history(self, label: str, territories: list[Territory], *, first: bool) -> None:
        """A wave of the past: planned with its real dates, its cités' records imported."""
        spec = WAVES[label]
        assert spec.decided_on is not None and spec.filing is not None
        wave_id = f"{self.run.run_id}-{label}"
        self.run.waves[label] = wave_id
        await self.api.call("labelling", "POST", "/waves", token=self.national, body={
            "id": wave_id, "year": spec.year, "title": f"{spec.title} (reprise de l'historique)",
            "rule_set": spec.rule_set, "filing": {"opens_on": str(spec.filing[0]),
                                                  "closes_on": str(spec.filing[1])},
            "review_criteria": list(spec.criteria), "target_count": len(territories),
            "label_in_calendar_years": True, "qpv_list": spec.qpv_list}, ok=(201,))
        first_year = _first_year(spec)
        await self.open_envelopes(wave_id, len(territories),
                                  list(range(first_year, self.run.today.year + LABEL_YEARS)))
        await self.phase(f"{label}: collèges and associations registered", territories,
                         self.register)
        await self.settle(f"{label}: partners known to every service")
        chunks = [territories[i:i + 100] for i in range(0, len(territories), 100)]
        await self.phase(f"{label}: its history imported ({spec.decided_on:%d/%m/%Y} → today)",
                         chunks, lambda ts: self.import_history(wave_id, spec, ts))
        await self.settle(f"{label}: funding knows its cités", consumers=("funding",))
        await self.phase(f"{label}: its money before {self.kept_since} taken over", chunks,
                         self.take_over_past_money)
        await self.alliances_at_work(label, [t for t in territories
                                             if self.by_key[t.key].status == "labelled"],
                                     first=first)

    async def alliances_at_work(self, label: str, territories: list[Territory], *,
                                first: bool) -> None:
        """Living cités at work: associations join, préfectures commit and pay; in the
        first wave, the national coordination's decisions (:meth:`life`)."""
        # Notifications may lag from here on: what it is told next depends on nothing it
        # has not learnt (the contacts, above); the last settle waits for it and its mail.
        await self.settle(f"{label}: alliances opened, dotations allocated",
                          consumers=("partners", "funding"))
        await self.phase(f"{label}: associations join the alliances", territories, self.join)
        await self.settle(f"{label}: funding knows the members",
                          consumers=("partners", "funding"))
        await self.credits()
        await self.phase(f"{label}: commitments and payments", territories, self.spend)
        if first:
            await self.life(label)

    async def import_history(self, wave_id: str, spec: WaveSpec, ts: list[Territory]) -> None:
        """The records of ``ts`` sent to labelling's import; what the run expects of each."""
        references = {f"{self.run.run_id}-{t.key}": t for t in ts}
        report = await self.api.call("labelling", "POST", "/imports", token=self.national,
                                     ok=(200,), body={"cites": [
                                         t.record(wave_id, ref) for ref, t in references.items()]})
        wrong = [line for line in report["lines"] if line["outcome"] != "imported"]
        if wrong:
            raise SimError(f"labelling's import did not take {len(wrong)} record(s): {wrong[0]}")
        for line in report["lines"]:
            t = references[line["reference"]]
            years, status = _history_of(spec, t.renewed, self.run.today)
            if line["status"] != status:
                raise SimError(f"{line['reference']} imported {line['status']}, not {status}")
            record = CiteRecord(
                cite_id=line["cite_id"], key=t.key, wave_id=wave_id,
                departement=t.departement, candidature_id=str(line["candidature_id"]),
                lead_uai=t.lead.uai, lead_partner_id=self.partner_of[t.lead.uai],
                requested=t.requested, population=sum(p for _, _, p in t.qpvs), years=years,
                label_start=date(years[0], 1, 1),
                decided_year=spec.year if spec.decided_on is None else spec.decided_on.year,
                imported=True, status=status)
            self.run.cites[record.cite_id] = record
            self.run.candidatures.add(record.candidature_id)
            self.by_key[t.key] = record

    async def take_over_past_money(self, ts: list[Territory]) -> None:
        """What the P147 dotations of ``ts`` committed and paid each year before the
        platform kept the credits, sent to funding's import (the cités by the references
        labelling's import gave them): some 85–94 % committed, nine tenths of it paid."""
        records, body = [self.by_key[t.key] for t in ts], []
        for r in records:
            rule = next(e.dotation_rule for e in self.run.envelopes.values()
                        if e.wave_id == r.wave_id and e.programme == "P147")
            for year in (y for y in r.years if y < self.kept_since):
                due = dotation_of(rule, r.requested, r.population, year, r.label_start)
                committed = due * (85 + _digest(r.key, year) % 10) // 100 // 100 * 100
                r.past.append((year, committed, committed * 9 // 10 // 100 * 100))
            if r.past:
                body.append({"reference": f"{self.run.run_id}-{r.key}", "years": [
                    {"year": y, "dotation": None if r.label_start is None else dotation_of(
                        rule, r.requested, r.population, y, r.label_start),
                     "committed": c, "paid": p} for y, c, p in r.past]})
        if not body:
            return
        report = await self.api.call("funding", "POST", "/imports", token=self.national,
                                     ok=(200,), body={"cites": body})
        wrong = [line for line in report["lines"] if line["outcome"] != "imported"]
        if wrong:
            raise SimError(f"funding's import did not take {len(wrong)} record(s): {wrong[0]}")

    async def open_envelopes(self, wave_id: str, cites: int, years: list[int]) -> None:
        for programme, per_cite in (("P147", P147_PER_CITE_YEAR), ("P230", P230_PER_CITE_YEAR)):
            amount = per_cite * cites * len(years)
            e = await self.api.call(
                "funding", "POST", "/envelopes", token=self.national,
                key=f"{wave_id}-{programme}", ok=(201, 200), body={
                    "name": f"{wave_id} {programme} {years[0]}–{years[-1]}",
                    "programme": programme, "budget_years": years, "wave_ids": [wave_id],
                    "amount": amount})
            self.run.envelopes[e["envelope_id"]] = EnvelopeRecord(
                envelope_id=e["envelope_id"], programme=programme, wave_id=wave_id,
                amount=e["amount"], budget_years=e["budget_years"],
                dotation_rule=e["dotation_rule"], fonds_share=e["fonds_share"])

    async def year_end(self, year: int) -> None:
        """The national coordination closes P147's credits of ``year`` (over): what was
        neither committed nor paid lapses, unpaid commitments carry over. Not if another
        run closed it, or none recorded them."""
        known = {c["year"]: c for c in await self.api.pages(
            "funding", "/credits", token=self.api.tokens.viewer)
            if c["programme"] == "P147"}
        if year in known and known[year]["closed_at"] is None:
            self.run.closings.append(await self.api.call(
                "funding", "POST", f"/credits/P147/{year}/closing", token=self.national,
                ok=(200,)))
        self.closed_years.add(year)

    async def revues(self, label: str, year: int) -> None:
        """The national coordination opens the year's revues de projet, due on 31 March of
        the next year (yesterday if that is still ahead; an earlier run's deadline if it
        opened them); the first wave's cités of that year file theirs, once labelling
        knows their money: the troïka validates, the préfecture submits — on time, one in
        ten late, one in ten never (overdue)."""
        wave_id = self.run.waves[label]
        cites = sorted((c for c in self.run.cites.values()
                        if c.wave_id == wave_id and year in c.years), key=lambda c: c.cite_id)
        if not cites:
            return
        await self.settle(f"revues {year}: labelling knows the year's money",
                          consumers=("labelling",))
        campaign = await self.api.call("labelling", "GET", f"/reviews/campaigns/{year}",
                                       token=self.api.tokens.viewer, ok=(200, 404))
        due = (date.fromisoformat(campaign["due_on"]) if campaign and "due_on" in campaign
               else min(date(year + 1, 3, 31), self.run.today - timedelta(days=1)))
        await self.api.call("labelling", "POST", "/reviews/campaigns", token=self.national,
                            ok=(201, 200), body={"year": year, "due_on": str(due)})
        await self.phase(f"revues {year}: filed, validated, submitted", list(enumerate(cites)),
                         lambda nc: self.revue(nc[1], year, due, nc[0]))

    async def revue(self, record: CiteRecord, year: int, due: date, n: int) -> None:
        prefecture = self.api.tokens.prefecture(record.departement)
        review, = (await self.api.call("labelling", "GET", "/reviews", ok=(200,),
                                       token=self.api.tokens.viewer,
                                       params={"cite_id": record.cite_id, "year": year}))["items"]
        path = f"/reviews/{review['review_id']}"
        submitted_on = None if n % 10 == 3 else due + timedelta(days=1) if n % 10 == 5 else \
            due - timedelta(days=10)
        self.run.reviews[record.cite_id] = ReviewRecord(review["review_id"], year, due,
                                                        submitted_on)
        if submitted_on is None:
            return
        await self.api.call("labelling", "PUT", f"{path}/content", token=prefecture, ok=(200,),
                            body=_review_content(record, n))
        validated_on = str(max(date(year, 1, 1), due - timedelta(days=20)))
        await self.api.call("labelling", "POST", f"{path}/validation", token=prefecture,
                            ok=(200,), body={"validations": [
                                {"role": role, "validated_on": validated_on}
                                for role in ("prefet", "recteur", "maire")]})
        await self.api.call("labelling", "POST", f"{path}/submission", token=prefecture,
                            ok=(200,), body={"submitted_on": str(submitted_on)})

    async def credits(self) -> None:
        """The State's P147 credits the préfectures commit (AE) and pay (CP) from, for each
        year the run's cités are funded in and this one (unless closed): a dotation's cap
        per cité of each département, delegated to it, the year's totals raised by as
        much (other runs' credits stay), topped up as waves come."""
        known = {c["year"]: c for c in await self.api.pages(
            "funding", "/credits", token=self.api.tokens.viewer)
            if c["programme"] == "P147"}
        self.closed_years |= {y for y, c in known.items() if c["closed_at"] is not None}
        per_departement = Counter(c.departement for c in self.run.cites.values())
        years = sorted({y for c in self.run.cites.values() for y in c.years
                        if y >= self.kept_since} | {self.run.today.year})
        for year in (y for y in years if y not in self.closed_years):
            more = {d: n * P147_CAP - self.credited.get((year, d), 0)
                    for d, n in sorted(per_departement.items())}
            more = {d: m for d, m in more.items() if m > 0}
            if not more:
                continue
            voted = known.get(year, {"ae": 0, "cp": 0})
            await self.api.call("funding", "POST", "/credits", token=self.national,
                                ok=(200,), body={"programme": "P147", "year": year,
                                                 "ae": voted["ae"] + sum(more.values()),
                                                 "cp": voted["cp"] + sum(more.values())})
            for d, m in more.items():
                await self.api.call(
                    "funding", "POST", f"/credits/P147/{year}/delegations",
                    token=self.national, ok=(200,),
                    key=f"{self.run.run_id}-{year}-{d}-{m}",
                    body={"departement": d, "ae": m, "cp": m})
                self.credited[(year, d)] = self.credited.get((year, d), 0) + m

    async def _partner(self, body: dict[str, Any], contact: tuple[str, str], role: str
                       ) -> str:
        created = await self.api.call("partners", "POST", "/partners", token=self.national,
                                      body=body, ok=(201, 200))
        partner_id = str(created["partner_id"])
        if partner_id not in self.run.contacts:
            await self.api.call("partners", "POST", f"/partners/{partner_id}/contacts",
                                token=self.national, ok=(201,), body={
                                    "name": contact[0], "email": contact[1], "function": role,
                                    "consent": True})
            self.run.contacts[partner_id] = self.run.contacts.get(partner_id, 0) + 1
        return partner_id

    async def register(self, t: Territory) -> None:
        """The lead collège (by its UAI: partners opens the alliance around it) and the
        associations, each with a consenting contact."""
        lead = t.lead
        self.partner_of[lead.uai] = await self._partner(
            {"kind": "college", "name": lead.name, "uai": lead.uai,
             "commune_insee_code": t.communes[0][0]}, t.lead_contact, "Principal")
        for op in t.operators:
            self.partner_of[op.siret] = await self._partner(
                {"kind": "association", "name": op.name, "siret": op.siret,
                 "commune_insee_code": op.commune},
                (op.contact_name, op.contact_email), "Coordination")

    async def label(self, wave_id: str, t: Territory) -> None:
        prefecture = self.api.tokens.prefecture(t.departement)
        drafted = await self.api.call("labelling", "POST", "/candidatures", token=prefecture,
                                      body=t.candidature(wave_id), ok=(201,))
        cid = drafted["id"]
        await self.api.call("labelling", "POST", f"/candidatures/{cid}/submission",
                            token=prefecture, ok=(200,))
        await self.api.call("labelling", "PUT", f"/candidatures/{cid}/review",
                            token=self.national, ok=(200,), body={"scores": {
                                c: {"score": 4} for c in WAVES[t.wave].criteria}})
        decided = await self.api.call("labelling", "POST", f"/candidatures/{cid}/decision",
                                      token=self.national, ok=(200,), body={
                                          "outcome": "label",
                                          "motive": "Dossier retenu par le comité national"})
        record = CiteRecord(
            cite_id=decided["cite_id"], key=t.key, wave_id=wave_id, departement=t.departement,
            candidature_id=str(cid), lead_uai=t.lead.uai,
            lead_partner_id=self.partner_of[t.lead.uai], requested=t.requested,
            population=sum(p for _, _, p in t.qpvs), years=[self.run.today.year],
            decided_year=self.run.today.year, label_start=self.run.today)
        self.run.cites[record.cite_id] = record
        self.run.candidatures.add(str(cid))
        self.by_key[t.key] = record

    async def join(self, t: Territory) -> None:
        record = self.by_key[t.key]
        for op in t.operators:
            partner_id = self.partner_of[op.siret]
            await self.api.call("partners", "POST", f"/alliances/{record.cite_id}/members",
                                token=self.national, ok=(201,), body={
                                    "partner_id": partner_id,
                                    "roles": ["action_operator", "funder"] if op is
                                    t.operators[0] else ["action_operator"]})
            record.members.append(partner_id)

    async def spend(self, t: Territory) -> None:
        """The préfecture commits part of the P147 dotation to each association's actions,
        and pays part of each."""
        record = self.by_key[t.key]
        prefecture = self.api.tokens.prefecture(t.departement)
        funds = await self.api.call("funding", "GET", f"/cites/{record.cite_id}",
                                    token=self.api.tokens.viewer, ok=(200,))
        # Its latest dotation: this year's, or (an imported cité has one per budget year
        # of its label, up to its last) its last year's.
        p147 = sorted((a for a in funds["allocations"] if a["programme"] == "P147"),
                      key=lambda a: -a["year"])
        if not p147:
            raise SimError(f"funding allocated no P147 dotation to {record.cite_id}: "
                           f"{funds['allocations']}")
        p147 = [a for a in p147 if a["year"] not in self.closed_years]
        if not p147:  # its years' credits closed (by an earlier run): nothing to commit
            return
        allocation = p147[0]
        record.allocation_id, record.dotation = allocation["allocation_id"], allocation["amount"]
        record.allocation_year = allocation["year"]
        await self.use_fonds(record, funds, allocation["year"], prefecture)
        await self.cofinance(t, record, allocation["year"], prefecture)
        for op in t.operators:
            operator = self.partner_of[op.siret]
            for n, (title, share, paid_share) in enumerate(op.commitments):
                amount = record.dotation * share // 10_000 // 100 * 100
                c = await self.api.call(
                    "funding", "POST", f"/cites/{record.cite_id}/commitments", token=prefecture,
                    key=f"{self.run.run_id}-{record.cite_id}-{op.siret}-{n}", ok=(201,), body={
                        "allocation_id": record.allocation_id, "operator_partner_id": operator,
                        "action_title": title, "amount": amount,
                        **self._paperwork(allocation["year"], record, amount, len(
                            record.commitments))})
                record.commitments.append((c["commitment_id"], operator, amount))
                pay = amount * paid_share // 10_000
                if pay:
                    await self.api.call("funding", "POST",
                                        f"/commitments/{c['commitment_id']}/payments",
                                        token=prefecture, ok=(201,), body={"amount": pay})
                    record.payments.append((c["commitment_id"], pay))
                    if n == 0 and not record.ordered_back and int(record.cite_id[5:]) % 3 == 0:
                        await self.justified(record, c["commitment_id"], pay, prefecture)

    async def cofinance(self, t: Territory, record: CiteRecord, year: int, prefecture: str
                        ) -> None:
        """The commune co-finances the year with a quarter of the State's dotation — the
        préfecture declares it, naming the funder among the alliance's partners (its first
        operator, a funder) —; one cité in two has recorded what it gave: nine tenths."""
        if any(y == year for y, _, _ in record.cofinancing):
            return
        planned = record.dotation // 4 // 100 * 100
        if not planned:
            return
        await self.api.call(
            "funding", "POST", f"/cites/{record.cite_id}/cofinancing", token=prefecture,
            key=f"{self.run.run_id}-{record.cite_id}-cofinancing-{year}", ok=(201,),
            body={"year": year, "funder": f"Commune de {t.communes[0][1]}", "amount": planned,
                  "funder_partner_id": self.partner_of[t.operators[0].siret]
                  if t.operators else None})
        actual = None
        if _digest(record.key, "cofinancing") % 2:
            found = await self.api.pages("funding", f"/cites/{record.cite_id}/cofinancing",
                                         token=self.api.tokens.viewer)
            co = next(c for c in found if c["year"] == year)
            actual = planned * 9 // 10 // 100 * 100
            await self.api.call("funding", "POST", f"/cofinancing/{co['cofinancing_id']}/actual",
                                token=prefecture, ok=(200,), body={"amount": actual})
        record.cofinancing.append((year, planned, actual))

    async def use_fonds(self, record: CiteRecord, funds: dict[str, Any], year: int,
                        prefecture: str) -> None:
        """The collège chef de file pays a third of the year's fonds de la cité for a
        school trip; its préfecture records it on the collège's behalf."""
        grant = next((g for g in funds["fonds"] if g["year"] == year), None)
        if grant is None or grant["used"]:
            return
        amount = grant["amount"] // 3 // 200 * 200  # whole euros, split evenly in two
        await self.api.call(
            "funding", "POST", f"/cites/{record.cite_id}/fonds/{year}/uses", token=prefecture,
            key=f"{self.run.run_id}-{record.cite_id}-fonds-{year}", ok=(201,), body={
                "amount": amount, "purpose": "Sortie scolaire au musée pour les élèves de 6e",
                "paid_on": str(min(date(year, 6, 15), self.run.today)),
                "payee": "Compagnie de transport scolaire"})
        record.fonds_uses.append((year, amount))

    async def justified(self, record: CiteRecord, commitment_id: str, paid: int,
                        prefecture: str) -> None:
        """The operator reports a fifth of what it was paid unspent: the préfecture orders
        it back, and the operator repays half of it so far."""
        unspent = paid // 5 // 100 * 100
        today = str(self.run.today)
        await self.api.call("funding", "POST", f"/commitments/{commitment_id}/report",
                            token=prefecture, ok=(200,),
                            body={"spent": paid - unspent, "submitted_on": today})
        if not unspent:
            return
        order = await self.api.call(
            "funding", "POST", f"/commitments/{commitment_id}/recoveries", token=prefecture,
            key=f"{self.run.run_id}-{commitment_id}-recovery", ok=(201,), body={
                "amount": unspent, "order_reference": f"TP-{record.cite_id}-1",
                "ordered_on": today, "motive": "Reliquat non consommé selon le compte rendu"})
        record.ordered_back += unspent
        repaid = unspent // 2 // 100 * 100
        if repaid:
            await self.api.call(
                "funding", "POST", f"/recoveries/{order['recovery_id']}/receipts",
                token=prefecture, key=f"{self.run.run_id}-{commitment_id}-receipt",
                ok=(201,), body={"amount": repaid, "received_on": today})
            record.recovered += repaid

    def _paperwork(self, year: int, record: CiteRecord, amount: int, n: int
                   ) -> dict[str, Any]:
        """A subsidy's legal act, signed in its allocation's budget year (not after today):
        a convention above 23 000 € (the operators are associations), else an arrêté;
        and the association's Dauphin request."""
        convention = amount > 23_000_00
        return {"legal_act": {
                    "kind": "convention" if convention else "arrete",
                    "reference": f"{year}-{record.departement}-{'CE' if convention else 'AR'}-"
                                 f"{record.cite_id}-{n + 1}",
                    "signed_on": min(date(year, 3, 15), self.run.today).isoformat()},
                "subsidy_request": f"{year}{record.cite_id[5:]}{n + 1:02d}"}

    async def life(self, label: str) -> None:
        """The first wave's life: a perimeter extended, labels suspended (one reinstated),
        one withdrawn and its frozen money released."""
        p = self.programme
        national = self.national

        async def extend(key: str) -> None:
            code, name, population = p.extension_qpvs[key]
            record = self.by_key[key]
            await self.api.call("labelling", "POST", f"/cites/{record.cite_id}/extension",
                                token=national, ok=(200,), body={
                                    "qpvs": [{"code": code, "name": name,
                                              "population": population}]})
            record.extended = True

        async def suspend(key: str) -> None:
            record = self.by_key[key]
            await self.api.call("labelling", "POST", f"/cites/{record.cite_id}/suspension",
                                token=national, ok=(200,), body={
                                    "motive": "Revue de projet annuelle non rendue"})
            record.status, record.suspensions = "suspended", record.suspensions + 1
            if key in p.reinstated:
                await self.api.call("labelling", "POST",
                                    f"/cites/{record.cite_id}/reinstatement", token=national,
                                    ok=(200,), body={"motive": "Revue de projet reçue"})
                record.status, record.reinstatements = "labelled", record.reinstatements + 1

        async def withdraw(key: str) -> None:
            record = self.by_key[key]
            await self.api.call("labelling", "POST", f"/cites/{record.cite_id}/withdrawal",
                                token=national, ok=(200,), body={
                                    "motive": "Gouvernance locale dissoute"})
            record.status = "withdrawn"

        await self.phase(f"{label}: a perimeter extended", p.extended, extend)
        await self.phase(f"{label}: labels suspended, one reinstated", p.suspended, suspend)
        await self.phase(f"{label}: a label withdrawn", p.withdrawn, withdraw)
        await self.settle("funding froze what the withdrawn and suspended had not committed",
                          consumers=("partners", "funding"))

        async def release(key: str) -> None:
            record = self.by_key[key]
            await self.api.call("funding", "POST", f"/cites/{record.cite_id}/release",
                                token=national, ok=(200,), body={"motive": "Label retiré"})
            record.released = True

        await self.phase(f"{label}: the withdrawn cité's frozen money released", p.withdrawn,
                         release)


_OBJECTIVES = ("school_role", "educational_continuity", "opening_opportunities")
_THEMES = ("school_success", "parenthood", "culture", "guidance", "sport", "health")
_AGES = ("3-5", "6-10", "11-15", "16-18")


def _review_content(record: CiteRecord, n: int) -> dict[str, Any]:
    """A review's content: the cité's commitments as its action plan (an open day when it
    made none), the commune's contribution, two indicators of the protocol."""
    actions = [{"title": f"Action {i + 1} de {record.cite_id}",
                "objective": _OBJECTIVES[(n + i) % 3], "theme": _THEMES[(n + i) % 6],
                "age_group": _AGES[(n + i) % 4], "cost": amount}
               for i, (_, _, amount) in enumerate(record.commitments)] or [
        {"title": "Journée portes ouvertes", "objective": "opening_opportunities",
         "theme": "other", "age_group": "0-25", "cost": 0}]
    return {"operational_review": f"Revue de projet de {record.cite_id} : les actions "
                                  "engagées ont démarré, le comité de pilotage s'est réuni.",
            "actions": actions, "commune_contribution": record.requested,
            "indicators": [
                {"code": "absenteisme-college", "label": "Taux d'absentéisme au collège",
                 "value": f"{5 + n % 7}.{n % 10}", "unit": "%"},
                {"code": "enfants-accompagnes", "label": "Enfants et jeunes accompagnés",
                 "value": str(100 + 7 * n), "unit": "enfants"}]}


def _first_year(spec: WaveSpec) -> int:
    """The first budget year of a past wave's labels: whole calendar years from the
    decision's year, or the next one for a decision from September (the 2019 cités)."""
    assert spec.decided_on is not None
    return spec.decided_on.year + (spec.decided_on.month >= 9)


def _digest(*parts: object) -> int:
    """A number drawn from ``parts``, the same in every run (Python's hash of a str is
    not)."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:4], "big")


def _history_of(spec: WaveSpec, renewed: bool, today: date) -> tuple[list[int], str]:
    """What a cité of a past wave is by ``today``: the budget years funding funds it for
    (its label's, up to this one) and its label's status (labelled while a period runs or
    a re-application waits; expired otherwise)."""
    start = _first_year(spec)
    end, waiting = start + LABEL_YEARS - 1, False
    for step in spec.renewals if renewed else ():
        if step.decided_on is None:
            waiting = True
            break
        end += LABEL_YEARS
    status = "labelled" if waiting or date(end, 12, 31) >= today else "expired"
    return list(range(start, min(end, today.year) + 1)), status


async def simulate(endpoints: Endpoints, programme: Programme, *, run_id: str,
                   concurrency: int = 8, progress: Progress | None = None,
                   settle_timeout: float = 180.0, api: Api | None = None) -> Run:
    """Play ``programme`` on the platform at ``endpoints``; the :class:`Run` it did."""
    run = Run(run_id=run_id, seed=programme.seed, today=datetime.now(PARIS).date())

    async def play(client: Api) -> Run:
        sim = Simulation(client, endpoints, programme, run, progress or Progress(),
                         concurrency=concurrency, settle_timeout=settle_timeout)
        return await sim.simulate()

    if api is not None:
        return await play(api)
    async with Api.open(endpoints, connections=max(concurrency, 4) * 2) as client:
        return await play(client)
