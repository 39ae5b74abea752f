"""What a commitment, a payment and a run of labels wait for: the database round trips of
their unit of work, counted on asyncpg's protocol (every message awaited: a simple query,
a prepare, a bind-execute), as ``bench/roundtrips.py`` counts a labelling decision's. A
commitment or a payment holds its accounts' locks from the statement that moves its money
to its COMMIT, so each round trip there is time every other command on the same
allocation waits; a run of labels costs as many as one label."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date
from typing import Any, cast

from funding.service import Subsidy, commit_funds, label_cites, pay
from funding_kit import OPERATOR, Funding, labelled

from cites_contracts.events.funding import LegalAct
from cites_contracts.types import LegalActKind
from cites_runtime.actor import Actor, Role
from cites_runtime.db import Conn, create_pool
from cites_runtime.testing.round_trips import CountingConnection, counted
from cites_runtime.uow import UnitOfWork, outbox_channel

ROUND_TRIPS = 4
"""At most, for a command's statements and its events' outbox write (BEGIN and COMMIT
apart: the unit of work's own)."""

PREFECTURE_93 = Actor(Role.PREFECTURE, "test", departement="93")


@asynccontextmanager
async def counting(funding: Funding) -> AsyncIterator[Callable[[Callable[[UnitOfWork], Awaitable[
        Any]]], Awaitable[list[str]]]]:
    """``run(act)``: ``act`` in a unit of work of its own on a counting connection, its
    events written to the outbox; returns the round trips between BEGIN and COMMIT."""
    s = funding.s.settings
    pool = await create_pool(s.dsn, s.db_schema, min_size=1, max_size=1,
                             connection_class=CountingConnection)

    async def run(act: Callable[[UnitOfWork], Awaitable[Any]]) -> list[str]:
        async with pool.acquire() as conn:
            with counted() as log:
                async with conn.transaction():
                    uow = UnitOfWork(cast(Conn, conn), channel=outbox_channel(s.db_schema),
                                     clock=s.clock, zone=s.zone)
                    await act(uow)
                    await uow.flush()
        assert log[0].endswith("BEGIN;") and log[-1].endswith("COMMIT;"), log
        return log[1:-1]

    try:
        yield run
    finally:
        await pool.close()


def _subsidy(allocation_id: str, amount: int) -> Subsidy:
    return Subsidy(uuid.UUID(allocation_id), OPERATOR, "Atelier", amount, LegalAct(
        kind=LegalActKind.ARRETE, reference="AR-1", signed_on=date(2025, 1, 2)))


async def test_a_commitment_and_a_payment_each_wait_for_at_most_four_round_trips(
    service: Funding,
) -> None:
    allocation = (await service.funded_cite())["allocation_id"]
    async with counting(service) as run:
        made = []
        for _ in range(2):  # the first prepares the statements the second finds cached
            commitment_id = uuid.uuid4()
            made.append(await run(lambda uow, c=commitment_id: commit_funds(
                uow, "cite-001", _subsidy(allocation, 100_00), PREFECTURE_93, c)))
            paid = await run(lambda uow, c=commitment_id: pay(
                uow, c, 10_00, PREFECTURE_93, uuid.uuid4()))

    committed = made[-1]
    assert len(committed) <= ROUND_TRIPS, committed
    assert len(paid) <= ROUND_TRIPS, paid
    commitments = (await service.cite())["commitments"]
    assert len(commitments) == 2
    assert {(c["amount"], c["unpaid"]) for c in commitments} == {(100_00, 90_00)}
    assert len(await service.outbox("FundsCommitted", "PaymentMade")) == 4
    await service.ledger_balanced()



async def test_a_run_of_labels_waits_for_as_many_round_trips_as_one_label(
    service: Funding,
) -> None:
    await service.open_envelopes(p147_amount=100_000_000_00)
    async with counting(service) as run:
        trips = [await run(lambda uow, n=n, size=size: label_cites(uow, [
            (labelled(f"cite-{n}{k:03d}"), uow.cause) for k in range(size)]))
            for n, size in enumerate((1, 1, 30))]  # the first prepares the statements

    one, many = trips[1], trips[2]
    assert len(many) == len(one) <= 5, (one, many)
    assert len(await service.outbox("FundsAllocated")) == 32
    await service.ledger_balanced()
