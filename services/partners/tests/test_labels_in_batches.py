"""Labels opened many at a time, as the consumer applies a batch (``open_alliances``, one
set of statements for a run): the same alliances, chefs de file, events and causes as one
label at a time — a cité or a lead named twice included —, and a label the rules refuse
dead-lettered alone with why."""

from __future__ import annotations

from uuid import uuid4

from partners import service as use_cases
from partners_kit import UAI_LYCEE, Letters, envelope, labelled, records, suspended

from cites_contracts import Envelope, Event
from cites_runtime.testing import AS_NATIONAL, ServiceUnderTest
from cites_runtime.uow import Cause


async def _chefs(service: ServiceUnderTest) -> dict[str, str]:
    """Each alliance's chef de file (UAI), as the membership and the alliance row say it,
    with its status."""
    rows = await service.runtime.pool.fetch(
        """SELECT a.cite_id, a.status, p.uai,
                  a.chef_de_file_partner_id = m.partner_id AS row_agrees
           FROM alliances a
           JOIN memberships m ON m.cite_id = a.cite_id AND 'chef_de_file' = ANY (m.roles)
           JOIN partners p ON p.partner_id = m.partner_id ORDER BY a.cite_id""")
    assert all(r["row_agrees"] for r in rows)
    return {r["cite_id"]: f"{r['uai']} {r['status']}" for r in rows}


def _short(e: Envelope[Event]) -> tuple[str, str]:
    data = e.data.model_dump()
    return e.type.split(".", 1)[1], str(data.get("cite_id") or data.get("uai"))


async def test_labels_opened_together_open_as_they_would_one_by_one(
    service: ServiceUnderTest,
) -> None:
    known = (await service.http.post("/partners", json={
        "kind": "college", "name": "Collège Jean Renoir", "uai": "0930002B"},
        headers=AS_NATIONAL)).json()["partner_id"]
    async with service.runtime.unit_of_work() as uow:
        assert await use_cases.open_alliance(uow, labelled("cite-000", lead_uai="0930009C"))
    before = len(await service.outbox())
    labels = [labelled("cite-001", lead_uai="0930001A"),
              labelled("cite-002", lead_uai="0930002B"),  # a lead registered before
              labelled("cite-000", lead_uai="0930008D"),  # has its alliance already
              labelled("cite-003", lead_uai="0930003C")]
    causes = [Cause(uuid4(), uuid4()) for _ in labels]

    async with service.runtime.unit_of_work() as uow:
        opened = await use_cases.open_alliances(uow, labels, causes)

    events = (await service.outbox())[before:]
    assert opened == [True, True, False, True]
    assert [_short(e) for e in events] == [
        ("PartnerRegistered", "0930001A"), ("AllianceOpened", "cite-001"),
        ("ChefDeFileDesignated", "cite-001"),
        ("AllianceOpened", "cite-002"), ("ChefDeFileDesignated", "cite-002"),
        ("PartnerRegistered", "0930003C"), ("AllianceOpened", "cite-003"),
        ("ChefDeFileDesignated", "cite-003")]
    cause_of = {"cite-001": causes[0], "0930001A": causes[0], "cite-002": causes[1],
                "cite-003": causes[3], "0930003C": causes[3]}
    for e in events:
        cause = cause_of[_short(e)[1]]
        assert (e.correlation_id, e.causation_id) == (cause.correlation_id,
                                                      cause.causation_id), _short(e)
    assert [e.sequence for e in events if e.type.endswith("Designated")] == [2, 2, 2]
    assert await _chefs(service) == {"cite-000": "0930009C open", "cite-001": "0930001A open",
                                     "cite-002": "0930002B open", "cite-003": "0930003C open"}
    chef = await service.runtime.pool.fetchval(
        "SELECT chef_de_file_partner_id::text FROM alliances WHERE cite_id = 'cite-002'")
    assert chef == known
    registered = await service.runtime.pool.fetch(
        "SELECT uai, name, departement FROM partners WHERE uai <> '0930002B' ORDER BY uai")
    assert [tuple(r) for r in registered] == [
        ("0930001A", "Collège Bondy", "93"), ("0930003C", "Collège Bondy", "93"),
        ("0930009C", "Collège Bondy", "93")]  # 0930008D's label opened nothing


async def test_labels_naming_a_cite_or_a_lead_twice_open_as_they_would_one_by_one(
    service: ServiceUnderTest,
) -> None:
    async with service.runtime.unit_of_work() as uow:
        assert await use_cases.open_alliance(uow, labelled("cite-000", lead_uai="0930009C"))
    labels = [labelled("cite-001", lead_uai="0930001A"),
              labelled("cite-001", lead_uai="0930002B"),  # the same cité: opened just now
              labelled("cite-000", lead_uai="0930003C"),  # has its alliance already
              labelled("cite-003", lead_uai="0930003C"),  # the lead of the label before
              labelled("cite-004", lead_uai="0930004D")]

    async with service.runtime.unit_of_work() as uow:
        opened = await use_cases.open_alliances(uow, labels)

    assert opened == [True, False, False, True, True]
    assert await _chefs(service) == {"cite-000": "0930009C open", "cite-001": "0930001A open",
                                     "cite-003": "0930003C open", "cite-004": "0930004D open"}
    assert [e.data.uai for e in await service.outbox("PartnerRegistered")] == [
        "0930009C", "0930001A", "0930003C", "0930004D"]
    assert [e.data.cite_id for e in await service.outbox("AllianceOpened")] == [
        "cite-000", "cite-001", "cite-003", "cite-004"]


async def test_a_batch_of_labels_dead_letters_only_those_the_rules_refuse(
    service: ServiceUnderTest,
) -> None:
    await service.http.post("/partners", json={
        "kind": "lycee", "name": "Cité scolaire Blanqui", "uai": UAI_LYCEE},
        headers=AS_NATIONAL)
    runner = service.runtime.runner
    assert runner is not None
    runner.dead_letters = letters = Letters()
    batch = [envelope(labelled("cite-001", lead_uai="0930001A")),
             envelope(labelled("cite-002", lead_uai="0930001A")),  # leads cite-001 by then
             envelope(labelled("cite-003", lead_uai=UAI_LYCEE)),  # a lycée cannot lead
             envelope(labelled("cite-004", lead_uai="0930004D")),
             envelope(suspended("cite-001"), sequence=2)]
    consumed = records(service, batch)

    await runner.process_batch(consumed)
    await runner.process_batch([consumed[0], consumed[3], consumed[4]])  # redelivered: no-op

    opened = await service.outbox("AllianceOpened")
    assert [e.data.cite_id for e in opened] == ["cite-001", "cite-004"]
    assert [e.causation_id for e in opened] == [batch[0].event_id, batch[3].event_id]
    assert await _chefs(service) == {"cite-001": "0930001A suspended",
                                     "cite-004": "0930004D open"}
    assert [(h["dlq.original_offset"], h["dlq.reason"]) for h in letters.letters] == [
        ("1", "rejected"), ("2", "rejected")]
    assert letters.letters[0]["dlq.error"].startswith("cite-002: the lead collège")
    assert "already chef de file of alliance cite-001" in letters.letters[0]["dlq.error"]
    assert letters.letters[1]["dlq.error"].startswith(f"cite-003: the lead collège's UAI "
                                                      f"{UAI_LYCEE} is registered as lycée")
