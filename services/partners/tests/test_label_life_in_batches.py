"""A label's later events (extended, renewed, suspended, reinstated, withdrawn, expired)
applied many at a time, as the consumer applies a batch of a replayed history: the same
alliances and the same events, in the same order with the same causes, as one at a time;
an event the rules refuse dead-lettered alone, with why."""

from __future__ import annotations

from typing import Any

from partners_kit import (
    Letters,
    envelope,
    expired,
    extended,
    labelled,
    records,
    reinstated,
    renewed,
    school,
    suspended,
    withdrawn,
)

from cites_contracts import Envelope, Event
from cites_runtime.testing import ServiceUnderTest

LEADS = ("0930001A", "0930002B", "0930003C", "0930004D", "0930005E", "0930006F")


def life(first: int) -> list[Envelope[Event]]:
    """Six cités' labels, then their lives interleaved as a history has them: each cité's
    events in order, a run of every kind, one cité twice in it (suspended then reinstated),
    one whose event repeats what it did (a second suspension)."""
    c = [f"cite-{first + k:03d}" for k in range(6)]
    labels = [labelled(cite, lead_uai=f"{first // 10}{lead[1:]}")
              for cite, lead in zip(c, LEADS, strict=True)]
    return [*(envelope(label) for label in labels),
            envelope(extended(labels[0], school("0930101A")), 2),
            envelope(suspended(c[1]), 2),
            envelope(renewed(c[2]), 2),
            envelope(withdrawn(c[3]), 2),
            envelope(expired(c[4]), 2),
            envelope(reinstated(c[1]), 3),  # the same cité again in the run
            envelope(suspended(c[5]), 2),
            envelope(suspended(c[5]), 3),  # changes nothing
            envelope(extended(labels[0], school("0930101A"), school("0930102B")), 3),
            envelope(suspended(c[0]), 4),
            envelope(expired(c[3]), 3)]  # closed already: nothing more


async def alliances(service: ServiceUnderTest, first: int) -> list[dict[str, Any]]:
    rows = await service.runtime.pool.fetch(
        """SELECT status, suspended_at, closed_at, closure_reason, label_start, label_end,
                  schools
           FROM alliances WHERE cite_id >= $1 ORDER BY cite_id LIMIT 6""",
        f"cite-{first:03d}")
    # Each history has its own leads: the first school of a perimeter.
    return [dict(r) | {"schools": r["schools"][1:]} for r in rows]


async def emitted(service: ServiceUnderTest, events: list[Envelope[Event]]
                  ) -> list[tuple[str, int]]:
    """What partners emitted for these events (labels apart): (type, index of its cause)."""
    index = {e.event_id: i for i, e in enumerate(events)}
    return [(e.type, index[e.causation_id]) for e in await service.outbox()
            if e.causation_id in index and e.type != "partners.PartnerRegistered"
            and index[e.causation_id] >= 6]


async def test_a_history_applied_in_one_batch_ends_as_applied_one_event_at_a_time(
    service: ServiceUnderTest,
) -> None:
    runner = service.runtime.runner
    assert runner is not None
    one_by_one, together = life(10), life(20)

    for rec in records(service, one_by_one):
        await runner.process_batch([rec])
    await runner.process_batch(records(service, together))

    state = await alliances(service, 20)
    assert state == await alliances(service, 10)
    assert [(a["status"], a["closure_reason"], len(a["schools"]), str(a["label_end"]))
            for a in state] == [
        ("suspended", None, 2, "2027-12-31"), ("open", None, 0, "2027-12-31"),
        ("open", None, 0, "2030-12-31"), ("closed", "label_withdrawn", 0, "2027-12-31"),
        ("closed", "label_expired", 0, "2027-12-31"), ("suspended", None, 0, "2027-12-31")]
    assert await emitted(service, together) == await emitted(service, one_by_one) == [
        ("partners.AllianceClosed", 9), ("partners.AllianceClosed", 10)]


async def test_a_refused_event_of_a_run_is_dead_lettered_alone(
    service: ServiceUnderTest,
) -> None:
    runner = service.runtime.runner
    assert runner is not None
    runner.dead_letters = letters = Letters()
    events = life(30)
    # No alliance for cite-099 (its label is a dead letter, say): its suspension cannot apply.
    events.insert(8, envelope(suspended("cite-099"), 2))

    await runner.process_batch(records(service, events))

    assert [(h["dlq.original_offset"], h["dlq.reason"]) for h in letters.letters] == [
        ("8", "rejected")]
    assert letters.letters[0]["dlq.error"].startswith("cite-099: ")
    assert [(a["status"], a["closure_reason"]) for a in await alliances(service, 30)] == [
        ("suspended", None), ("open", None), ("open", None), ("closed", "label_withdrawn"),
        ("closed", "label_expired"), ("suspended", None)]
    assert await emitted(service, events) == [("partners.AllianceClosed", 10),
                                              ("partners.AllianceClosed", 11)]
