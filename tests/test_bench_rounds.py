"""How ``make bench`` turns alternated rounds into its headline (``bench/runtime_bench``):
the sides take turns going first, the ratio is the median of the rounds' own ratios (not
one side's best round over the other's), its spread is shown, and CPU per event is the
median round's. (Nothing timed here: the sides are stand-ins returning set timings.)"""

from __future__ import annotations

from rich.console import Console

from bench.__main__ import _table
from bench.runtime_bench import Result, Round, Timing, alternated


async def test_the_sides_take_turns_going_first_and_each_round_keeps_its_own_pair() -> None:
    order: list[str] = []

    async def baseline(i: int) -> Timing:
        order.append(f"baseline {i}")
        return Timing(1.0, 0.5)

    async def ours(i: int) -> Timing:
        order.append(f"ours {i}")
        return Timing(2.0 + i, 1.0)

    rounds = await alternated(3, baseline, ours, Console(quiet=True), 1000)
    assert order == ["baseline 0", "ours 0", "ours 1", "baseline 1", "baseline 2", "ours 2"]
    assert [r.ours.seconds for r in rounds] == [2.0, 3.0, 4.0]


def test_the_ratio_is_the_median_of_the_rounds_ratios_with_its_spread_and_cpu() -> None:
    # Round ratios 0.5, 0.25, 0.9: best-over-best would say 1.0/2.0 = 0.5 by chance here,
    # so the rounds are chosen where it does not: best ours 1.0 s, best baseline 0.9 s.
    rounds = [Round(Timing(2.0, 0.2), Timing(1.0, 0.1)),
              Round(Timing(4.0, 0.4), Timing(1.0, 0.1)),
              Round(Timing(1.0, 0.3), Timing(0.9, 0.2))]
    r = Result.of_rounds("x", 1000, "raw", "≥ 1×", rounds)
    assert r.ratio == 0.5 and r.ratio != (1 / 1.0) / (1 / 0.9)
    assert r.spread == (0.25, 0.9)
    assert r.rate == 1000 / 2.0 and r.baseline_rate == 1000 / 1.0
    assert r.cpu_us_per_event() == (300.0, 100.0)
    one = Result("y", 10, 5.0, "raw", 10.0, "-")
    assert one.ratio == 0.5 and one.spread is None and one.cpu_us_per_event() is None


def test_the_table_shows_the_median_ratio_its_spread_and_cpu_per_event() -> None:
    rounds = [Round(Timing(2.0, 0.2), Timing(1.0, 0.1)),
              Round(Timing(4.0, 0.4), Timing(1.0, 0.1))]
    console = Console(width=300, record=True)
    console.print(_table([Result.of_rounds("relay", 1000, "raw", "≥ 0.9×", rounds),
                          Result("once", 10, 5.0, "raw", 10.0, "-")]))
    text = console.export_text()
    relay = next(line for line in text.splitlines() if "relay" in line)
    assert "0.38" in relay and "0.25–0.50 (2)" in relay and "300 / 100" in relay
    once = next(line for line in text.splitlines() if "once" in line)
    assert "one round" in once and "0.50" in once
