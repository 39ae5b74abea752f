"""Dead letters: what a consumer writes to ``<consumer>.dlq`` for a record it cannot apply.

A letter keeps what may be read of its record — bounded, so that it always fits where its
record did not; a personal-data record's value withheld (it stays where erasure reaches
it) — with the reason, the error and the record's origin (topic, partition, offset) in
``dlq.*`` headers. ``dlq list`` shows them, ``dlq replay`` applies them again
(:mod:`.replay`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka.errors import MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError

from cites_contracts.codec import MAX_HEADER_BYTES, MAX_HEADERS, header_problem

from ..kafka import OutboundRecord
from .records import RawRecord

__all__ = ["LETTER_REFUSALS", "DeadRecord", "Origin", "letter", "without_values"]

LETTER_KEY_BYTES = 4096
"""The most of a record's key its dead letter keeps (aggregate ids are far shorter)."""
LETTER_REFUSALS = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError)
"""What the broker or the producer refuses for a letter's size, for good."""


@dataclass(slots=True)
class DeadRecord:
    """A record to dead-letter, why (``reason``: a short code; ``error``: in words) and
    after how many attempts of its handler."""

    record: RawRecord
    reason: str
    error: str
    attempts: int


@dataclass(frozen=True, slots=True)
class Origin:
    """A record as it was at its origin, read from a dead letter or named by its place
    (fits :class:`~.records.RawRecord`)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: Sequence[tuple[str, bytes | None]]
    value: bytes | None = None
    timestamp: int = 0


def letter(d: DeadRecord, *, topic: str, consumer: str, personal: bool, tombstone: bool,
           max_value_bytes: int, failed_at: str) -> OutboundRecord:
    """The dead letter of ``d`` on ``topic``: ``personal`` withholds the value (a
    personal-data topic's record), ``tombstone`` says its empty value is the null of a
    tombstone, not a withheld one; the value is cut to ``max_value_bytes``."""
    rec = d.record
    value = rec.value or b""
    key = rec.key or b""
    kept, withheld = _kept_headers(rec.headers)
    return OutboundRecord(
        topic=topic,
        key=key[:LETTER_KEY_BYTES],
        value=b"" if personal else value[:max_value_bytes],
        headers=[
            *([("dlq.value_withheld", b"personal data: read it at its origin")]
              if personal else []),
            *([("dlq.tombstone", b"true")] if tombstone else []),
            *kept,
            *([("dlq.headers_withheld", f"{withheld} header(s) of the record not kept: "
                "they break the wire rules".encode())] if withheld else []),
            *([("dlq.truncated_from", str(len(value)).encode())]
              if len(value) > max_value_bytes and not personal else []),
            *([("dlq.key_truncated_from", str(len(key)).encode())]
              if len(key) > LETTER_KEY_BYTES else []),
            ("dlq.reason", header_value(d.reason)),
            ("dlq.error", header_value(d.error[:4000])),
            ("dlq.consumer", consumer.encode()),
            ("dlq.original_topic", rec.topic.encode()),
            ("dlq.original_partition", str(rec.partition).encode()),
            ("dlq.original_offset", str(rec.offset).encode()),
            ("dlq.failed_at", failed_at.encode()),
            ("dlq.attempts", str(d.attempts).encode()),
        ],
    )


def without_values(letters: Sequence[OutboundRecord], refusal: Exception
                   ) -> list[OutboundRecord]:
    """``letters`` the broker refused for their size, sent again without what may be read
    of their records: the rest of each (reason, origin, headers) stays."""
    return [r._replace(value=b"", headers=[
        *r.headers, ("dlq.value_dropped", header_value(repr(refusal)[:500]))])
        for r in letters]


def header_value(text: str) -> bytes:
    """Text as a header value: UTF-8, a lone surrogate (JSON can carry one) escaped."""
    return text.encode("utf-8", "backslashreplace")


def _kept_headers(headers: Sequence[tuple[str, bytes | None]]
                  ) -> tuple[list[tuple[str, bytes]], int]:
    """The record's headers a dead letter keeps — each that keeps the wire rules
    (``header_problem``), up to their number, none of ``dlq.*`` — and how many it does not."""
    kept: list[tuple[str, bytes]] = []
    withheld = 0
    for name, raw in headers:
        if name.startswith("dlq."):
            continue
        if (raw is None or len(raw) > MAX_HEADER_BYTES or len(kept) >= MAX_HEADERS
                or header_problem([(name, raw)]) is not None):
            withheld += 1
            continue
        kept.append((name, raw))
    return kept, withheld
