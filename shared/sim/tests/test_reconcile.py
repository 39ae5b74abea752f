"""The reconciliation's sums, on events made here: each envelope's money from the events
equals what the simulation expects from what it did, and an event too many or a wrong
attribution shows as a difference."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

from labelling.examples import territory_labelled

from cites_contracts import Envelope, Event
from cites_contracts.events.funding import (
    EnvelopeOpened,
    FondsDeLaCiteGranted,
    FundsAllocated,
    FundsCommitted,
    FundsFrozen,
    FundsReleased,
    PaymentMade,
    RecoveryOrdered,
    RecoveryReceived,
)
from cites_contracts.events.labelling import Wave
from cites_sim.reconcile import (
    distinct,
    events_money,
    expected_money,
    expected_notifications,
    in_scope,
)
from cites_sim.simulate import CiteRecord, EnvelopeRecord, Run, dotation_of

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
RULE = {"kind": "requested_capped", "amount": 250_000_00, "floor": 120_000_00,
        "cap": 650_000_00, "per_inhabitant": 0}


def wrap(event: Event) -> Envelope[Event]:
    return Envelope.wrap(event, sequence=1)


def scenario() -> tuple[Run, list[Envelope[Event]]]:
    """Two cités of one wave: one active that committed and paid, one withdrawn whose
    uncommitted money froze and was released."""
    p147, p230 = uuid4(), uuid4()
    run = Run(run_id="t", seed=1, today=date(2026, 11, 30), waves={"2019": "t-2019"})
    for eid, programme, rule in ((p147, "P147", RULE), (p230, "P230", {"kind": "none"})):
        run.envelopes[str(eid)] = EnvelopeRecord(str(eid), programme, "t-2019", 10_000_000_00,
                                                 [2026, 2027, 2028, 2029], rule, 15_000_00)
    events: list[Envelope[Event]] = [wrap(EnvelopeOpened(
        envelope_id=eid, name="e", programme=programme, budget_years=(2026, 2027, 2028, 2029),
        wave_ids=("t-2019",), amount=10_000_000_00, opened_at=NOW))
        for eid, programme in ((p147, "P147"), (p230, "P230"))]
    operator = uuid4()
    for i, (requested, status) in enumerate(((300_000_00, "labelled"), (0, "withdrawn"))):
        label = territory_labelled(i)
        label = label.model_copy(update={"wave": Wave(id="t-2019", year=2019)})
        cite = CiteRecord(label.cite_id, f"2019-{i}", "t-2019", label.departement,
                          str(label.candidature_id), label.lead_college_uai, str(uuid4()),
                          requested, 5000, years=[2026], decided_year=2026,
                          members=[str(operator)], status=status,
                          released=status == "withdrawn")
        run.cites[cite.cite_id] = cite
        run.candidatures.add(cite.candidature_id)
        allocation, commitment = uuid4(), uuid4()
        dotation = requested or 250_000_00
        cite.commitments.append((str(commitment), str(operator), 40_000_00))
        cite.payments.append((str(commitment), 15_000_00))
        events += [wrap(label), wrap(FundsAllocated(
            cite_id=label.cite_id, allocation_id=allocation, envelope_id=p147,
            programme="P147", year=2026, amount=dotation, envelope_remaining=0,
            allocated_at=NOW)), wrap(FondsDeLaCiteGranted(
                cite_id=label.cite_id, grant_id=uuid4(), year=2026,
                lead_college_uai=label.lead_college_uai, granted_at=NOW,
                contributions=({"programme": "P147", "amount": 15_000_00},
                               {"programme": "P230", "amount": 15_000_00}))),
            wrap(FundsCommitted(cite_id=label.cite_id, commitment_id=commitment,
                                allocation_id=allocation, operator_partner_id=operator,
                                action_title="Ateliers", amount=40_000_00, committed_at=NOW)),
            wrap(PaymentMade(cite_id=label.cite_id, payment_id=uuid4(),
                             commitment_id=commitment, allocation_id=allocation,
                             payee_partner_id=operator, amount=15_000_00, paid_at=NOW))]
        if status == "labelled":  # its operator's report: 3 000 € unspent, 1 000 € repaid
            cite.ordered_back, cite.recovered, recovery = 3_000_00, 1_000_00, uuid4()
            events += [wrap(RecoveryOrdered(
                cite_id=label.cite_id, recovery_id=recovery, commitment_id=commitment,
                payee_partner_id=operator, programme="P147", amount=3_000_00,
                order_reference="TP-1", ordered_on=NOW.date(), motive="Reliquat",
                ordered_at=NOW)), wrap(RecoveryReceived(
                    cite_id=label.cite_id, receipt_id=uuid4(), recovery_id=recovery,
                    commitment_id=commitment, payee_partner_id=operator, programme="P147",
                    amount=1_000_00, received_on=NOW.date(), received_at=NOW))]
        if status == "withdrawn":
            left = dotation - 40_000_00
            events += [wrap(FundsFrozen(cite_id=label.cite_id, reason="label_withdrawn",
                                        frozen=({"allocation_id": allocation,
                                                 "amount": left},), frozen_at=NOW)),
                       wrap(FundsReleased(cite_id=label.cite_id, released=(
                           {"allocation_id": allocation, "envelope_id": p147,
                            "amount": left},), motive="Label retiré", released_at=NOW))]
    return run, events


def test_the_events_add_up_to_what_the_simulation_expects() -> None:
    run, events = scenario()
    expected = expected_money(run)
    assert events_money(events, run) == expected
    p147 = next(f for e, f in expected.items() if run.envelopes[e].programme == "P147")
    assert p147 == {"allocated": 550_000_00, "fonds": 30_000_00, "fonds_used": 0,
                    "committed": 80_000_00,
                    "paid": 30_000_00, "frozen": 0, "released": 210_000_00,
                    "ordered_back": 3_000_00, "recovered": 1_000_00,
                    "remaining": 10_000_000_00 - 550_000_00 - 30_000_00 + 210_000_00}


def test_a_payment_too_many_or_misattributed_fonds_show() -> None:
    run, events = scenario()
    paid = next(e for e in events if e.type == "funding.PaymentMade")
    extra = Envelope.wrap(paid.data, sequence=paid.sequence + 1)  # another payment, same sum
    again = events_money([*events, extra], run)
    assert {e: f["paid"] - expected_money(run)[e]["paid"] for e, f in again.items()} \
        == {e: (15_000_00 if r.programme == "P147" else 0) for e, r in run.envelopes.items()}
    lost_wave = [e for e in events if e.type != "labelling.TerritoryLabelled"]
    assert events_money(lost_wave, run) != expected_money(run)  # fonds found no envelope


def test_a_record_published_twice_counts_once_and_is_noted() -> None:
    """The relay publishes at least once: after a broker restart the same event (same
    ``event_id``) can sit twice on a topic, and every consumer applies it once — so does the
    reconciliation, which says how many repeats it set aside."""
    run, events = scenario()
    repeats = [e for e in events if e.type in ("funding.FundsCommitted", "funding.PaymentMade")]
    once, twice = distinct([*events, *repeats])
    assert once == events
    assert twice == len(repeats) > 0
    assert events_money(once, run) == expected_money(run)


def test_only_the_run_s_events_are_in_scope_and_each_notifying_one_counts_its_recipients(
) -> None:
    run, events = scenario()
    stranger = territory_labelled(99)
    assert in_scope([*events, wrap(stranger)], run) == events
    rules: list[dict[str, Any]] = [
        {"event_type": "labelling.TerritoryLabelled", "version": 2,
         "recipients": ["troika", "chef_de_file"]},
        {"event_type": "funding.PaymentMade", "version": 1, "recipients": ["payee"]}]
    cite = next(iter(run.cites.values()))
    run.contacts = {cite.lead_partner_id: 1, cite.members[0]: 2}
    expected = expected_notifications(events, run, rules)
    by_type = {e.type: expected[str(e.event_id)] for e in events
               if str(e.event_id) in expected and e.data.cite_id == cite.cite_id}
    assert by_type == {"labelling.TerritoryLabelled": 3 + 1, "funding.PaymentMade": 2}
    assert all(isinstance(UUID(k), UUID) for k in expected)


def test_imported_history_is_expected_to_notify_nobody_and_an_expired_cite_to_freeze() -> None:
    """A cité of the past, imported: its events (marked imported) cause no notification;
    its label expired, so all its uncommitted dotations froze."""
    run, events = scenario()
    rules: list[dict[str, Any]] = [
        {"event_type": "labelling.TerritoryLabelled", "version": 2,
         "recipients": ["troika", "chef_de_file"]}]
    imported = [e.model_copy(update={"imported": True}) for e in events]
    assert expected_notifications(imported, run, rules) == {}
    cite = next(c for c in run.cites.values() if c.status == "labelled")
    cite.status, cite.years, cite.commitments, cite.payments = "expired", [2026], [], []
    p147 = next(e for e in run.envelopes.values() if e.programme == "P147")
    # Its whole dotation (the withdrawn cité's froze too, and was released).
    assert expected_money(run)[p147.envelope_id]["frozen"] == 300_000_00


def test_the_first_years_dotation_is_expected_pro_rata_from_the_label_s_start() -> None:
    """As funding prorates it: the year the label starts, from that day, in whole euros."""
    assert dotation_of(RULE, 300_000_00, 5000, 2026, date(2026, 12, 7)) == 20_547_00
    assert dotation_of(RULE, 300_000_00, 5000, 2027, date(2026, 12, 7)) == 300_000_00
    assert dotation_of(RULE, 300_000_00, 5000, 2020, date(2020, 1, 1)) == 300_000_00
