"""The replay bench's history (``bench/replay_bench.py``) is one labelling could have
written: every event passes its contract, each cité's events come in order under
labelling's rules, and what the bench expects of partners' projection follows from them.
(No infrastructure, nothing timed: the bench itself runs with ``python -m bench --only
replay``.)"""

from __future__ import annotations

from collections import Counter

from bench.replay_bench import KINDS, History
from cites_contracts import decode, encode
from cites_contracts.events.labelling import (
    LabelExpired,
    LabelReinstated,
    LabelRenewed,
    LabelSuspended,
    LabelWithdrawn,
    PerimeterExtended,
    TerritoryLabelled,
)


def test_a_history_follows_labellings_rules_and_implies_the_projection_checked() -> None:
    history = History.generate(4_000)
    assert len(history.entries) == 4_000
    assert set(history.mix()) == set(KINDS)  # every kind, at any size
    status: dict[str, str] = {}
    sequence: Counter[str] = Counter()
    schools: dict[str, int] = {}
    ends: dict[str, str] = {}
    for envelope in history.events():
        rec = encode(envelope)
        event = decode(rec.value, rec.headers)  # the contract, as partners reads it
        data, cite = event.data, event.aggregate_id
        assert rec.key == cite.encode()
        sequence[cite] += 1
        assert event.sequence == sequence[cite], cite
        if isinstance(data, TerritoryLabelled):
            assert cite not in status
            status[cite], schools[cite] = "open", len(data.perimeter.schools)
            ends[cite] = str(data.label_period.end)
            continue
        assert status[cite] != "closed", f"{cite}: an event after its end"
        if isinstance(data, PerimeterExtended | LabelRenewed):
            assert status[cite] == "open", f"{cite}: {event.type} while suspended"
        if isinstance(data, PerimeterExtended):
            assert len(data.perimeter.schools) == schools[cite] + len(data.added.schools)
            schools[cite] = len(data.perimeter.schools)
        elif isinstance(data, LabelRenewed):
            assert str(data.previous_period.end) == ends[cite]
            ends[cite] = str(data.label_period.end)
        elif isinstance(data, LabelSuspended):
            assert status[cite] == "open"
            status[cite] = "suspended"
        elif isinstance(data, LabelReinstated):
            assert status[cite] == "suspended"
            status[cite] = "open"
        elif isinstance(data, LabelExpired):
            assert str(data.label_period.end) == ends[cite]
            assert data.expired_at.date() > data.label_period.end
            status[cite] = "closed"
        else:
            assert isinstance(data, LabelWithdrawn)
            status[cite] = "closed"
    expected = history.expected()
    assert Counter(c.status for c in expected.values()) == Counter(status.values())
    assert sum(c.schools for c in expected.values()) == sum(schools.values())
    assert len(expected) == history.cites == len(status)
