"""The simulation's own logic: a dotation computed as funding computes it (so the expected
money is funding's rule, not a copy that drifts), and a refused step stopping its phase
with the platform's own words."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

import pytest
from funding.domain.cite import Cite, CiteStatus
from funding.domain.envelope import BudgetEnvelope, DotationRule, default_rule

from cites_contracts.events.funding import FundsAllocated
from cites_contracts.types import BudgetProgramme
from cites_sim.platform import SimError
from cites_sim.simulate import _each, dotation, dotation_of

RULES = [default_rule(BudgetProgramme.P147), default_rule(BudgetProgramme.P230),
         DotationRule(kind="fixed", amount=100_000_00),
         DotationRule(kind="population", per_inhabitant=20_00, floor=120_000_00,
                      cap=650_000_00)]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: str(r.kind))
@pytest.mark.parametrize(("requested", "population"), [
    (0, 5200), (80_000_00, 9000), (300_000_00, 15_000), (700_000_00, 40_000)])
def test_a_dotation_is_what_funding_s_rule_gives(rule: DotationRule, requested: int,
                                                 population: int) -> None:
    funding = rule.dotation(requested=requested, population=population)[0] \
        if rule.pays_dotations else 0
    assert dotation(rule.model_dump(mode="json"), requested, population) == funding


@pytest.mark.parametrize("degression", [(0, 50), (10, 70), (25, 40)])
@pytest.mark.parametrize("start", [date(2020, 1, 1), date(2024, 9, 2), date(2026, 12, 7)])
def test_a_yearly_dotation_is_what_funding_gives_prorated_and_degressive(
        degression: tuple[int, int], start: date) -> None:
    rule = DotationRule(kind="requested_capped", amount=250_000_00, floor=120_000_00,
                        cap=650_000_00, degression_percent=degression[0],
                        degression_floor_percent=degression[1])
    at = datetime(2026, 12, 7, tzinfo=UTC)
    envelope = BudgetEnvelope(uuid4(), "E", BudgetProgramme.P147, (2020,), ("w",),
                              10**12, rule, 15_000_00, at, 10**12)
    cite = Cite("cite-001", "C", "w", "93", start, date(start.year + 5, 12, 31),
                CiteStatus.ACTIVE, 300_000_00, 5200, "0930001A")
    for year in range(start.year, start.year + 6):
        allocated = envelope.dotation(cite, year, uuid4(), at)
        assert isinstance(allocated, FundsAllocated)
        assert dotation_of(rule.model_dump(mode="json"), 300_000_00, 5200, year,
                           start) == allocated.amount, year


async def test_a_refused_step_stops_its_phase_with_the_platform_s_words() -> None:
    done: list[int] = []

    async def work(i: int) -> None:
        if i == 3:
            raise SimError("funding POST /cites/cite-004/commitments: 409 not enough")
        done.append(i)

    with pytest.raises(SimError, match="409 not enough"):
        await _each(range(6), work, 2, lambda n: None)
