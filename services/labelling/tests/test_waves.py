"""Waves as data: planning refuses what the rules cannot use; open and close are idempotent."""

from __future__ import annotations

from datetime import date

import pytest
from labelling.domain import FilingWindow, Wave, WaveStatus
from labelling_kit import wave

from cites_runtime.errors import Conflict, RuleBroken


def plan(**overrides: object) -> Wave:
    values: dict[str, object] = dict(id="2026-pilote", year=2026, title="Pilote",
                                     rule_set="2024-v1", filing=None,
                                     review_criteria=("perimeter",), target_count=10)
    values.update(overrides)
    return Wave.plan(**values)  # type: ignore[arg-type]


def test_a_new_wave_is_planned_not_open() -> None:
    assert plan().status is WaveStatus.PLANNED


def test_a_wave_names_a_known_rule_set() -> None:
    with pytest.raises(RuleBroken, match="unknown rule set '2031-v9'; known: 2019-v1, 2021-v1"):
        plan(rule_set="2031-v9")


def test_a_wave_needs_distinct_criteria_and_a_target() -> None:
    with pytest.raises(RuleBroken, match="at least one review criterion"):
        plan(review_criteria=())
    with pytest.raises(RuleBroken, match="listed twice: means"):
        plan(review_criteria=("means", "identity", "means"))
    with pytest.raises(RuleBroken, match="at least 1, not 0"):
        plan(target_count=0)


def test_a_filing_window_cannot_close_before_it_opens() -> None:
    with pytest.raises(RuleBroken) as refused:
        FilingWindow(date(2026, 5, 1), date(2026, 4, 30))
    assert refused.value.failures[0].field == "filing"


def test_opening_and_closing_again_change_nothing() -> None:
    w = plan()
    assert w.open() is True
    assert w.open() is False
    assert w.close() is True
    assert w.close() is False
    assert w.status is WaveStatus.CLOSED


def test_a_closed_wave_is_not_reopened() -> None:
    w = wave(status=WaveStatus.CLOSED)
    with pytest.raises(Conflict, match="cannot be reopened"):
        w.open()


def test_events_name_a_wave_by_its_title_and_say_whether_it_is_a_test() -> None:
    assert plan().ref().model_dump() == {"id": "2026-pilote", "year": 2026, "title": "Pilote",
                                         "test": False}
    assert plan(id="2026-formation", title="Formation des préfectures", test=True).ref() \
        .model_dump() == {"id": "2026-formation", "year": 2026,
                          "title": "Formation des préfectures", "test": True}
