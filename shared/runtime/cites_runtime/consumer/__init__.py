"""Idempotent event consumers: classify, apply once, commit after, dead-letter the rest.

A service declares its handlers on an :class:`EventConsumer`::

    consumer = EventConsumer("partners")

    @consumer.handles(TerritoryLabelled)
    async def open_alliance(event: TerritoryLabelled, ctx: HandlerContext) -> None:
        await service.open_alliance(ctx.uow, event)

A handler may also take many events at once, to write them with one statement::

    @consumer.handles_many(TerritoryLabelled)
    async def open_alliances(labels: list[Envelope[TerritoryLabelled]],
                             ctx: BatchContext) -> None:
        await service.open_alliances(ctx.uow, [e.data for e in labels],
                                     [ctx.cause(e) for e in labels])

It gets each run of consecutive events of its types in a batch (one registration for
several types, ``handles_many(A, B)``, gets their runs whatever the mix), in order, no
aggregate twice in one call (its next event waits for the next call), already past the
inbox and the positions; what it emits for one of them carries that event's cause
(``uow.emit(event, cause=ctx.cause(e))``, or inside ``with ctx.caused_by(e):``). Should
the call raise, the batch is retried (transient) or applied one event at a time, as for
``handles``: the handler is then called with one event, and a refused one is
dead-lettered alone.

The :class:`ConsumerRunner` applies a batch of records in one transaction: the inbox row
``(consumer, event_id)`` and the handlers' effects (including events they emit) commit
together, and the caller commits Kafka offsets only afterwards. A redelivered event finds
its inbox row and changes nothing. Transient failures are retried with backoff, in place,
forever; a record that cannot be decoded, whose handler refuses it (raises a
:class:`~cites_runtime.errors.DomainError`: the rule's message becomes the reason) or keeps
failing goes to ``<consumer>.dlq`` with the reason and its origin in headers, and the
batch goes on. An event type the consumer handles in no version (a type or version newer
than its contracts included) is skipped. Whatever bytes and headers a record carries, it
is applied, skipped or dead-lettered (:func:`classify`): one record never fails the batch.

A consumer that keeps what a compacted topic's records say (an address on
``partners.contacts``) forgets it on the key's tombstone (a null value: the producer
erased the key)::

    @consumer.handles_tombstones(PARTNERS_CONTACTS)
    async def contact_erased(contact_id: str, ctx: TombstoneContext) -> None:
        await service.forget_contact(ctx.uow, contact_id)

A tombstone (:class:`Tombstone`) goes through the same path as an event, in its place
among the key's records (a card, then its tombstone: the card's handler first): inbox
row, handler in the consuming transaction, offsets after, dead letter on a domain error.
Without a tombstone handler for its topic, a tombstone is skipped.

Retrying in place has a budget (``retry_budget_s``, half the consumer's
``max_poll_interval``): Kafka takes the partitions of a consumer that does not poll in
time and gives them to another replica, which would then work on the same batch and
dead-letter its poison a second time. A batch still failing transiently when its budget
is spent raises :class:`GiveBack` before anything of it is dead-lettered: the subscriber
rewinds it and polls, and the same records come again.

==========================  ==============================================================
module                      what it holds
==========================  ==============================================================
:mod:`.registration`        ``EventConsumer``: ``handles``, ``handles_many``,
                            ``handles_tombstones``; the topics it reads
:mod:`.contexts`            ``HandlerContext``, ``BatchContext``, ``TombstoneContext``
:mod:`.records`             ``classify(record, intake) -> Apply | Skip | Dead`` (pure),
                            ``RawRecord``, ``Tombstone``
:mod:`.runner`              ``ConsumerRunner``: batches, inbox, positions, retries, the
                            retry budget (``GiveBack``), dead-lettering
:mod:`.replay`              what a dead letter applies again (``ConsumerRunner.replay``)
:mod:`.dead_letters`        a dead letter's shape: what of the record it keeps, its
                            ``dlq.*`` headers
==========================  ==============================================================
"""

from .contexts import BatchContext, HandlerContext, TombstoneContext
from .records import Apply, Dead, Intake, RawRecord, Skip, Tombstone, classify, compacted
from .registration import EventConsumer
from .runner import ConsumerRunner, GiveBack

__all__ = [
    "Apply",
    "BatchContext",
    "ConsumerRunner",
    "Dead",
    "EventConsumer",
    "GiveBack",
    "HandlerContext",
    "Intake",
    "RawRecord",
    "Skip",
    "Tombstone",
    "TombstoneContext",
    "classify",
    "compacted",
]
