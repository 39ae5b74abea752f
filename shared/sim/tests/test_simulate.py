"""The simulation's own logic: a dotation computed as funding computes it (so the expected
money is funding's rule, not a copy that drifts), and a refused step stopping its phase
with the platform's own words."""

from __future__ import annotations

import pytest
from funding.domain.envelope import DotationRule, default_rule

from cites_contracts.types import BudgetProgramme
from cites_sim.platform import SimError
from cites_sim.simulate import _each, dotation

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


async def test_a_refused_step_stops_its_phase_with_the_platform_s_words() -> None:
    done: list[int] = []

    async def work(i: int) -> None:
        if i == 3:
            raise SimError("funding POST /cites/cite-004/commitments: 409 not enough")
        done.append(i)

    with pytest.raises(SimError, match="409 not enough"):
        await _each(range(6), work, 2, lambda n: None)
