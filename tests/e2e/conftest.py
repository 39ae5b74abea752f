"""The platform for end-to-end tests: labelling and partners (and funding, for the tests that
ask for ``platform_with_funding``; notifications, mailing the test's own SMTP sink, for
``platform_with_notifications``; all four and the dashboard for
``platform_with_dashboard``) as separate processes on a fresh schema each and a topic
prefix of their own, always stopped at the end."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from cites_runtime.testing.infra import Infra, Keycloak

sys.path.insert(0, str(Path(__file__).parent))  # e2e_platform lives beside the tests

from e2e_platform import Platform, SmtpSink, running_platform


@pytest.fixture
async def platform(infra: Infra, tmp_path: Path) -> AsyncIterator[Platform]:
    async with running_platform(infra, tmp_path) as running:
        yield running


@pytest.fixture
async def platform_with_funding(infra: Infra, tmp_path: Path) -> AsyncIterator[Platform]:
    """The same, with funding as a third process."""
    async with running_platform(infra, tmp_path, funding=True) as running:
        yield running


@pytest.fixture
def smtp_sink(tmp_path: Path) -> Iterator[SmtpSink]:
    """The test's own SMTP sink (``deploy/local/smtp_sink.py``) on a free port, its mail in
    ``tmp_path/mail``: the test may stop it and start it again."""
    maildir = tmp_path / "mail"
    maildir.mkdir()
    sink = SmtpSink(maildir, tmp_path)
    sink.start()
    try:
        yield sink
    finally:
        sink.kill()


@pytest.fixture
async def platform_with_notifications(infra: Infra, tmp_path: Path, smtp_sink: SmtpSink
                                      ) -> AsyncIterator[Platform]:
    """Labelling, partners and notifications, which mails the test's ``smtp_sink``."""
    async with running_platform(infra, tmp_path, notifications=True,
                                smtp=smtp_sink.address) as running:
        yield running


@pytest.fixture
async def whole_platform(infra: Infra, tmp_path: Path, smtp_sink: SmtpSink
                         ) -> AsyncIterator[Platform]:
    """All four services: labelling, partners, funding and notifications (mailing the
    test's ``smtp_sink``)."""
    async with running_platform(infra, tmp_path, funding=True, notifications=True,
                                smtp=smtp_sink.address) as running:
        yield running


@pytest.fixture
async def platform_with_dashboard(infra: Infra, tmp_path: Path, smtp_sink: SmtpSink
                                  ) -> AsyncIterator[Platform]:
    """The whole platform and the programme dashboard, a fifth process, probing the four."""
    async with running_platform(infra, tmp_path, funding=True, notifications=True,
                                dashboard=True, smtp=smtp_sink.address) as running:
        yield running


@pytest.fixture
async def signed_in_platform(infra: Infra, keycloak: Keycloak, tmp_path: Path,
                             smtp_sink: SmtpSink) -> AsyncIterator[Platform]:
    """All four services, people signing in through Keycloak (``AUTH_MODE`` oidc), as
    ``make run`` runs them."""
    async with running_platform(infra, tmp_path, funding=True, notifications=True,
                                smtp=smtp_sink.address, keycloak=keycloak) as running:
        yield running
