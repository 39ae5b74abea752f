"""What a label decision waits for: the database round trips of its unit of work, counted
on the service's own pool (``cites_runtime.testing.round_trips``): the decision's work in a
handful of statements between BEGIN and COMMIT, and nothing after the commit (``python -m
bench --only roundtrips`` prints them)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from labelling.app import definition
from labelling.settings import LabellingSettings
from labelling_kit import Labelling

from cites_runtime.testing import AS_NATIONAL, in_memory
from cites_runtime.testing.round_trips import CountingConnection, counted


@pytest.fixture
async def counting(settings: LabellingSettings, monkeypatch: pytest.MonkeyPatch
                   ) -> AsyncIterator[Labelling]:
    create_pool = asyncpg.create_pool
    monkeypatch.setattr(asyncpg, "create_pool", lambda *a, **k: create_pool(
        *a, connection_class=CountingConnection, **k))
    async with in_memory(definition, settings) as running:
        yield Labelling(running)


async def test_a_label_decision_waits_for_nine_round_trips_from_begin_to_commit(
    counting: Labelling,
) -> None:
    await counting.labelled()  # statements prepared once: the next are one round trip each
    cid = await counting.under_review()
    with counted() as sent:
        r = await counting.http.post(f"/candidatures/{cid}/decision", headers=AS_NATIONAL,
                                     json={"outcome": "label", "motive": "Dossier solide"})
    assert r.status_code == 200, r.text
    assert sent[0].endswith("BEGIN;") and sent[-1].endswith("COMMIT;"), sent
    assert len(sent) <= 9, sent
