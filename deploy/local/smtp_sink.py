"""A development SMTP sink: accepts every message and keeps it as an ``.eml`` file.

Run by ``deploy/local/launcher.py`` (``python smtp_sink.py --port 11025 --maildir DIR``).
Each message is written to ``DIR/<arrival ns>-<counter>.eml`` (sorting the names gives
arrival order), as the RFC 822 text received, preceded by ``X-Envelope-From`` and
``X-Envelope-To`` headers that record the SMTP envelope. Files appear atomically (written
to a hidden temporary name, then renamed), so a reader never sees half a message.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import os
import signal
import time
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger("smtp_sink")


class MaildirHandler:
    """aiosmtpd handler storing each message in a folder."""

    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir
        self._counter = itertools.count()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        if not content and isinstance(envelope.content, str | bytes):
            raw = envelope.content
            content = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else raw
        headers = (
            f"X-Envelope-From: {envelope.mail_from or ''}\r\n"
            f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
            f"X-Received-By: cites-smtp-sink; peer={session.peer}\r\n"
        ).encode("utf-8", "surrogateescape")
        name = f"{time.time_ns():020d}-{next(self._counter):06d}.eml"
        tmp = self.maildir / f".{name}.tmp"
        tmp.write_bytes(headers + content)
        os.replace(tmp, self.maildir / name)
        log.info("stored %s from=%s to=%s", name, envelope.mail_from, envelope.rcpt_tos)
        return "250 Message accepted for delivery"


async def serve(host: str, port: int, maildir: Path) -> None:
    handler = MaildirHandler(maildir)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="cites-smtp-sink", data_size_limit=50 * 1024 * 1024),
        host=host,
        port=port,
        reuse_address=True,
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("SMTP sink listening on %s:%d, storing into %s", host, port, maildir)
    async with server:
        await stop.wait()
    log.info("SMTP sink stopped")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11025)
    parser.add_argument("--maildir", type=Path, required=True)
    args = parser.parse_args()
    args.maildir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command
    asyncio.run(serve(args.host, args.port, args.maildir))


if __name__ == "__main__":
    main()
