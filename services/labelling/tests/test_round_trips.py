"""What a label decision sends to PostgreSQL, counted on the service's own pool (asyncpg's
query logger on each of its connections): the decision's work in a handful of statements
between BEGIN and COMMIT, and nothing after the commit — each statement is a round trip
a decision waits for (``python -m bench --only roundtrips`` prints them)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from labelling.app import definition
from labelling.settings import LabellingSettings
from labelling_kit import Labelling

from cites_runtime.testing import AS_NATIONAL, in_memory

SENT: list[str] | None = None


class _Logged(asyncpg.Connection):
    """A connection noting each statement while the test listens (``SENT``)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.add_query_logger(lambda q: SENT.append(" ".join(q.query.split())[:60])
                              if SENT is not None else None)


@pytest.fixture
async def logged(settings: LabellingSettings, monkeypatch: pytest.MonkeyPatch
                 ) -> AsyncIterator[Labelling]:
    create_pool = asyncpg.create_pool
    monkeypatch.setattr(asyncpg, "create_pool", lambda *a, **k: create_pool(
        *a, connection_class=_Logged, **k))
    async with in_memory(definition, settings) as running:
        yield Labelling(running)


async def test_a_label_decision_is_nine_statements_from_begin_to_commit(
    logged: Labelling,
) -> None:
    global SENT
    await logged.labelled()  # statements prepared once: the next are one round trip each
    cid = await logged.under_review()
    SENT = []
    try:
        r = await logged.http.post(f"/candidatures/{cid}/decision", headers=AS_NATIONAL,
                                   json={"outcome": "label", "motive": "Dossier solide"})
        sent, SENT = SENT, None
    finally:
        SENT = None
    assert r.status_code == 200, r.text
    assert sent[0] == "BEGIN;" and sent[-1] == "COMMIT;", sent
    assert len(sent) <= 9, sent
