"""Replaying a dead letter: what it applies again (:func:`replayed`).

A letter of an event carries its record's value, and is decoded again; a tombstone's
letter (``dlq.tombstone``) is applied again in its origin's name; a letter whose value was
withheld (``dlq.value_withheld``: personal data) is applied from its original record, read
back from its topic. :meth:`~.runner.ConsumerRunner.replay` applies the result as it
applies a batch (inbox and positions).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from cites_contracts import DecodeError, Envelope, Event, decode

from .dead_letters import Origin
from .records import Apply, Intake, RawRecord, Tombstone, shown

__all__ = ["Origins", "origin_of", "replayed"]

Origins = Callable[[str, int, int], Awaitable[RawRecord | None]]
"""``origins(topic, partition, offset)``: the record at that place, None when compaction
removed it (raises when the offset is out of the partition's range)."""


async def replayed(letter: RawRecord, intake: Intake, consumer: str,
                   origins: Origins | None) -> Apply | None:
    """What applying ``letter`` again applies, or None when a newer record of its key
    replaced its original on its compacted topic (superseded: nothing left to apply).

    Raises :class:`DecodeError`: a tombstone's letter for a topic ``consumer`` has no
    tombstone handler for, or whose key is no text; an event ``consumer`` does not handle
    or that does not decode; a withheld value that cannot be read back (see
    :func:`read_back`)."""
    headers = {name for name, _ in letter.headers}
    if "dlq.tombstone" in headers:
        origin = origin_of(letter)
        if origin.topic not in intake.tombstone_topics:
            raise DecodeError(f"{consumer} has no tombstone handler for {origin.topic}")
        tombstone = Tombstone.of(origin)
        if tombstone is None:
            raise DecodeError(f"tombstone key {shown(origin.key)} is no text a handler "
                              "could be given")
        return Apply(origin, tombstone)
    if "dlq.value_withheld" in headers:
        original = await read_back(letter, origins, intake.compacted)
        if original is None:
            return None
        return Apply(original, _event(original, intake, consumer))
    return Apply(letter, _event(letter, intake, consumer))


def _event(record: RawRecord, intake: Intake, consumer: str) -> Envelope[Event]:
    env = decode(record.value)
    if type(env.data) not in intake.handlers:
        raise DecodeError(f"{consumer} has no handler for {env.type} v{env.version}")
    return env


def origin_of(letter: RawRecord) -> Origin:
    """The record ``letter`` was made of, as its ``dlq.original_*`` headers place it:
    its key and its own headers (not the letter's ``dlq.*``), no value."""
    h = {k: (v or b"").decode("utf-8", "replace") for k, v in letter.headers}
    return Origin(h.get("dlq.original_topic", ""), int(h.get("dlq.original_partition", "-1")),
                  int(h.get("dlq.original_offset", "-1")), letter.key,
                  [(k, v) for k, v in letter.headers if not k.startswith("dlq.")])


async def read_back(letter: RawRecord, origins: Origins | None,
                    compacted_topics: frozenset[str]) -> RawRecord | None:
    """The original record of a letter whose value was withheld, or None when a newer
    record of its key replaced it on its compacted topic (compaction removes a record only
    once a newer one of its key follows it, which the consumer applies in its turn).

    Raises :class:`DecodeError`: without ``origins``; when the record is gone from a topic
    that is not compacted; when the record read back is another one (its key or event id
    differs)."""
    origin = origin_of(letter)
    where = f"{origin.topic}[{origin.partition}]@{origin.offset}"
    if origins is None:
        raise DecodeError("its value was withheld (personal data): replay it with dlq "
                          f"replay, which reads it back from {where}")
    found = await origins(origin.topic, origin.partition, origin.offset)
    if found is None:
        if origin.topic not in compacted_topics:  # only compaction leaves holes
            raise DecodeError(f"{where} is no longer on Kafka, though the topic is not "
                              "compacted: nothing is left to replay; abandon the letter "
                              "with dlq skip")
        return None
    letter_id, found_id = (next((v for k, v in r.headers if k == "event_id"), None)
                           for r in (letter, found))
    if found.key != letter.key or (letter_id and found_id and letter_id != found_id):
        raise DecodeError(f"{where} holds another record than the one dead-lettered (key "
                          f"{shown(found.key)}, not {shown(letter.key)}; or another "
                          "event id): was the topic recreated? abandon the letter with "
                          "dlq skip")
    return found
