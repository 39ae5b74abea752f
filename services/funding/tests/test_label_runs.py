"""Labels a run at a time: the consumer hands funding each run of consecutive
``TerritoryLabelled`` of a batch at once (``handles_many``), and one call remembers and
funds all their cités. The domain still decides cité by cité, in the run's order, each
envelope giving what it holds after the cités before; each event funding emits is caused
by its own label; a cité known already is left as it is; and a label that cannot be
applied is, by the runtime's contract, dead-lettered alone while the rest of its run is
funded."""

from __future__ import annotations

import pytest
from funding.service import label_cites
from funding_kit import Funding, labelled

from cites_contracts import Envelope
from cites_contracts.events.labelling import TerritoryLabelled
from cites_runtime.dlq import list_dead_letters
from cites_runtime.testing import AS_NATIONAL
from cites_runtime.uow import Cause


def _run(*cite_ids: str) -> list[Envelope[TerritoryLabelled]]:
    return [Envelope.wrap(labelled(c), sequence=1) for c in cite_ids]


async def test_a_run_of_labels_is_funded_in_its_order_each_event_caused_by_its_label(
    service: Funding,
) -> None:
    await service.open_envelopes(p147_amount=700_000_00)
    await service.s.publish(labelled("cite-003"))  # takes 300 k€ and its fonds' 15 k€
    run = _run("cite-001", "cite-003", "cite-002")

    async with service.s.runtime.unit_of_work() as uow:
        known = await label_cites(uow, [(e.data, Cause.of(e)) for e in run])

    assert known == ["cite-003"]
    caused = {e.causation_id: (e.type.split(".")[1], e.data.model_dump(mode="json"))
              for e in await service.s.outbox() if e.causation_id in {r.event_id for r in run}}
    first, _, second = (r.event_id for r in run)
    assert set(caused) == {first, second}
    allocated = [e.data for e in await service.s.outbox("FundsAllocated")]
    assert [(a.cite_id, a.envelope_remaining) for a in allocated] == [
        ("cite-003", 700_000_00 - 300_000_00), ("cite-001", 700_000_00 - 315_000_00
                                                - 300_000_00)]
    refused, = await service.outbox("AllocationRefused")
    assert (refused["cite_id"], refused["reason"], refused["available"]) == (
        "cite-002", "envelope_exhausted", 700_000_00 - 2 * 315_000_00)
    fonds = await service.outbox("FondsDeLaCiteGranted")
    assert sorted(f["cite_id"] for f in fonds) == ["cite-001", "cite-002", "cite-003"]
    await service.ledger_balanced()


async def test_a_run_whose_cites_are_all_known_changes_nothing(service: Funding) -> None:
    await service.open_envelopes()
    await service.s.publish(labelled("cite-001"), labelled("cite-002"))
    before = await service.s.outbox()

    async with service.s.runtime.unit_of_work() as uow:
        run = _run("cite-002", "cite-001")
        known = await label_cites(uow, [(e.data, Cause.of(e)) for e in run])

    assert known == ["cite-002", "cite-001"]
    assert await service.s.outbox() == before
    await service.ledger_balanced()


@pytest.mark.integration
async def test_a_label_that_cannot_be_applied_is_dead_lettered_alone_and_its_run_funded(
    live: Funding,
) -> None:
    await live.open_envelopes()
    taken = "CE-2019-093-001"  # two cités cannot share a programme's reference
    await live.s.publish(labelled("cite-001").model_copy(update={"reference": taken}),
                         labelled("cite-002").model_copy(update={"reference": taken}),
                         labelled("cite-003"))
    await live.s.caught_up()

    letters = await list_dead_letters(live.s.settings.kafka,
                                      live.s.settings.topic("funding.dlq"))
    assert [(d.event_type, d.reason) for d in letters] == [("labelling.TerritoryLabelled",
                                                            "handler-failed")]
    assert "cites_reference_key" in (letters[0].error or ""), letters[0].error
    allocated = await live.outbox("FundsAllocated")
    assert sorted(a["cite_id"] for a in allocated) == ["cite-001", "cite-003"]
    assert (await live.http.get("/cites/cite-002", headers=AS_NATIONAL)).status_code == 404
    await live.ledger_balanced()
