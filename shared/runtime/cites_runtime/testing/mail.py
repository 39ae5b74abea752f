"""Reading the mail an SMTP sink kept, wherever it keeps it: the native launcher's sink
writes one ``.eml`` file per message into a maildir; Mailpit (under Docker, or compose's)
serves them over its HTTP API."""

from __future__ import annotations

import email
import email.policy
from email.message import Message
from pathlib import Path
from typing import Any

import httpx

__all__ = ["from_maildir", "from_mailpit"]

PAGE = 200


def _parse(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=email.policy.default)


def from_maildir(maildir: Path, to_containing: str | None = None) -> list[Message]:
    """The messages of ``maildir``, oldest first; only those whose To holds
    ``to_containing`` if given."""
    found = []
    for path in sorted(maildir.glob("*.eml")):
        msg = _parse(path.read_bytes())
        if to_containing is None or to_containing in (msg["To"] or ""):
            found.append(msg)
    return found


def from_mailpit(url: str, to_containing: str | None = None, *,
                 transport: httpx.BaseTransport | None = None) -> list[Message]:
    """The messages Mailpit at ``url`` (its HTTP address) holds, oldest first; only those
    with a recipient in To holding ``to_containing`` if given (filtered on Mailpit's
    summaries: only those messages are downloaded)."""
    with httpx.Client(base_url=url, timeout=10, transport=transport) as http:
        summaries: list[dict[str, Any]] = []
        while True:
            page = http.get("/api/v1/messages",
                            params={"start": len(summaries), "limit": PAGE})
            page.raise_for_status()
            body = page.json()
            summaries.extend(body["messages"])
            if not body["messages"] or len(summaries) >= body["total"]:
                break
        wanted = [s for s in reversed(summaries)  # Mailpit lists the newest first
                  if to_containing is None or any(
                      to_containing in (r.get("Address") or "") or
                      to_containing in (r.get("Name") or "") for r in s.get("To") or [])]
        found = []
        for summary in wanted:
            raw = http.get(f"/api/v1/message/{summary['ID']}/raw")
            raw.raise_for_status()
            found.append(_parse(raw.content))
        return found
