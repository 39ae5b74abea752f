"""The platform for end-to-end tests: labelling and partners as separate processes on a
fresh schema each and a topic prefix of their own, always stopped at the end."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from cites_runtime.testing import delete_topics
from cites_runtime.testing.infra import Infra
from cites_runtime.testing.plugin import drop_db, new_service_db

sys.path.insert(0, str(Path(__file__).parent))  # e2e_platform lives beside the tests

from e2e_platform import Platform, ServiceProcess


@pytest.fixture
async def platform(infra: Infra, tmp_path: Path) -> AsyncIterator[Platform]:
    tag = uuid.uuid4().hex[:8]
    prefix = f"e2e{tag}."
    lab_db = await new_service_db(infra, f"e2e_labelling_{tag}")
    par_db = await new_service_db(infra, f"e2e_partners_{tag}")
    labelling = ServiceProcess("labelling", lab_db, infra.kafka_bootstrap, prefix, tmp_path)
    partners = ServiceProcess("partners", par_db, infra.kafka_bootstrap, prefix, tmp_path)
    try:
        labelling.migrate()
        partners.migrate()
        await labelling.start()  # first: it creates the labels topic partners reads
        await partners.start()
        async with httpx.AsyncClient(base_url=labelling.url, timeout=30) as lab, \
                httpx.AsyncClient(base_url=partners.url, timeout=30) as par:
            yield Platform(labelling, partners, lab, par, prefix, infra.kafka_bootstrap)
    finally:
        partners.stop()
        labelling.stop()
        await drop_db(lab_db)
        await drop_db(par_db)
        await delete_topics(infra.kafka_bootstrap, prefix)
