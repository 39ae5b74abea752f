"""``make demo``'s simulation, small, on the four services run as processes: one wave of
about twenty cités driven through ``cites_sim`` (the code ``python -m cites_sim run``
runs), then its reconciliation — the services' APIs, the topics, the test's SMTP sink —
with zero differences; and the same reconciliation naming a difference when the platform
holds one it did not expect.

``CITES_DEMO_WAVES`` and ``CITES_DEMO_SCALE`` (environment) make the first test play more:
``CITES_DEMO_WAVES=2019,2021,2022 CITES_DEMO_SCALE=1`` is the whole ``make demo``, and it
prints the run's figures (time, events per service)."""

from __future__ import annotations

import json
import os

import pytest
from aiokafka import AIOKafkaProducer
from e2e_platform import REPO, Platform, SmtpSink

from cites_contracts import Envelope
from cites_contracts.codec import encode
from cites_contracts.events.funding import PaymentMade
from cites_sim import Endpoints, Tokens, generate, reconcile, simulate
from cites_sim.platform import Api
from cites_sim.reconcile import euros

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

WAVES = os.environ.get("CITES_DEMO_WAVES", "2019").split(",")
SCALE = float(os.environ.get("CITES_DEMO_SCALE", "0.25"))  # 80 × 0.25: 20 cités


def endpoints(platform: Platform, sink: SmtpSink) -> Endpoints:
    assert platform.funding is not None and platform.notifications is not None
    return Endpoints(
        labelling=platform.labelling.url, partners=platform.partners.url,
        funding=platform.funding.url, notifications=platform.notifications.url,
        tokens=Tokens.from_file(REPO / "deploy" / "local" / "dev-tokens.json"),
        kafka=platform.kafka, topic_prefix=platform.topic_prefix, maildir=sink.maildir)


async def test_a_small_programme_reconciles_and_a_stray_payment_does_not(
    whole_platform: Platform, smtp_sink: SmtpSink,
) -> None:
    where = endpoints(whole_platform, smtp_sink)
    programme = generate(7, waves=WAVES, scale=SCALE, operations=1,
                         departements=where.tokens.prefectures)
    async with Api.open(where) as api:
        run = await simulate(where, programme, run_id="e2e", concurrency=4, api=api)
        report = await reconcile(where, run, api=api)

    assert report.differences == [], "\n".join(report.differences)
    cites = len(programme.territories)
    first = next(r for r in report.counts if r.measure.startswith("cités"))
    assert set(first.values.values()) == {cites}
    suspended = next(r for r in report.counts if r.measure == "suspended")
    assert suspended.values["funding"] == len(programme.suspended) - len(programme.reinstated)
    p147 = next(m for m in report.money if m.programme == "P147")
    # Money moved at every step, and the three sources agree on it (differences == []).
    assert all(p147.figures["events"][k] > 0 for k in ("allocated", "fonds", "committed",
                                                        "paid", "frozen", "released"))
    assert report.notifications["sent"] == report.notifications["mails in the SMTP sink"] > 0
    assert report.lag and not any(report.lag.values())
    print(json.dumps({"cites": cites, "seconds": round(run.seconds, 1),
                      "events": report.events, "phases": run.phases}, indent=1))

    # A payment funding never made, on its topic: the events no longer add up to what the
    # ledger and the simulation say, and the reconciliation says by how much, where.
    cite = next(iter(run.cites.values()))
    assert cite.allocation_id is not None and cite.commitments
    commitment_id, operator, _ = cite.commitments[0]
    stray = Envelope.wrap(PaymentMade.model_validate({
        "cite_id": cite.cite_id, "payment_id": "00000000-0000-4000-8000-000000000001",
        "commitment_id": commitment_id, "allocation_id": cite.allocation_id,
        "payee_partner_id": operator, "amount": 12_345, "paid_at": "2026-01-01T00:00:00Z"}),
        sequence=10_000)
    record = encode(stray)
    producer = AIOKafkaProducer(bootstrap_servers=where.kafka)
    await producer.start()
    try:
        await producer.send_and_wait(where.topic("funding.allocations"), record.value,
                                     key=record.key, headers=record.headers)
    finally:
        await producer.stop()
    # Only the events disagree (funding does not read its own topic), by 123.45 €.
    again = await reconcile(where, run)
    assert [d for d in again.differences if "P147 paid" in d] == [
        f"{run.waves['2019']} P147 paid: simulation {euros(p147.figures['simulation']['paid'])}, "
        f"funding API {euros(p147.figures['simulation']['paid'])}, "
        f"events {euros(p147.figures['simulation']['paid'] + 12_345)}"], again.differences
