"""Run every benchmark and print a table of rates and ratios against raw baselines.

Baselines are measured in the same run, on the same infrastructure, with the same
payloads and producer settings, so the ratios mean something on a noisy shared machine.
Everything runs on uvloop, as the services do (``cites_runtime.tuning``).
"""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table

from cites_runtime.testing.infra import resolve_infra
from cites_runtime.tuning import run

from .dashboard_bench import dashboard_bench
from .funding_bench import funding_bench
from .labelling_bench import labelling_bench
from .latency_bench import latency_bench
from .notifications_bench import notifications_bench
from .partners_bench import partners_bench
from .relay_cost import relay_cost
from .replay_bench import replay_bench
from .roundtrips import count_decision_round_trips
from .rss_bench import rss_bench
from .runtime_bench import Result, consumer_bench, relay_bench

BENCHMARKS = ["relay", "relay-cost", "consumer", "labelling", "latency", "roundtrips",
              "partners", "funding", "notifications", "dashboard", "replay", "rss"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--relay-events", type=int, default=100_000)
    parser.add_argument("--consumer-events", type=int, default=50_000)
    parser.add_argument("--labelling-commands", type=int, default=1_000)
    parser.add_argument("--partners-events", type=int, default=20_000)
    parser.add_argument("--funding-events", type=int, default=10_000)
    parser.add_argument("--funding-commitments", type=int, default=4_000)
    parser.add_argument("--notifications-mails", type=int, default=2_000)
    parser.add_argument("--dashboard-cites", type=int, default=1_000)
    parser.add_argument("--replay-events", type=int, default=1_000_000,
                        help="labelling events partners rebuilds its projection from")
    parser.add_argument("--rss-labels", type=int, default=300,
                        help="labels through labelling's API between the two RSS readings")
    parser.add_argument("--latency-seconds", type=float, default=6.0,
                        help="seconds of open-loop load at each rate (100, 200, 400/s)")
    parser.add_argument("--tracing", action="store_true",
                        help="relay and consumer with tracing on: every trace sampled, "
                             "spans made and dropped (compare with a run without)")
    parser.add_argument("--only", choices=BENCHMARKS,
                        action="append", help="run only these benchmarks (repeatable)")
    args = parser.parse_args()
    console = Console(width=None if sys.stdout.isatty() else 220)  # a log keeps the table
    infra = resolve_infra()
    console.print(f"infrastructure: {infra.mode} (kafka {infra.kafka_bootstrap})")
    results: list[Result] = []
    try:
        wanted = set(args.only or BENCHMARKS)
        if "relay" in wanted:
            results += run(relay_bench(infra, args.relay_events, console,
                                       traced=args.tracing))
        if "relay-cost" in wanted:
            results += run(relay_cost(infra, console))
        if "consumer" in wanted:
            results += run(consumer_bench(infra, args.consumer_events, console,
                                          traced=args.tracing))
        if "labelling" in wanted:
            results += run(labelling_bench(infra, args.labelling_commands, console))
        if "latency" in wanted:
            results += run(latency_bench(infra, console, seconds=args.latency_seconds))
        if "roundtrips" in wanted:
            results += run(count_decision_round_trips(infra, console))
        if "partners" in wanted:
            results += run(partners_bench(infra, args.partners_events, console))
        if "funding" in wanted:
            results += run(funding_bench(infra, args.funding_events,
                                                 args.funding_commitments, console))
        if "notifications" in wanted:
            results += run(notifications_bench(infra, args.notifications_mails,
                                                       console))
        if "dashboard" in wanted:
            results += run(dashboard_bench(infra, args.dashboard_cites, console))
        if "replay" in wanted:
            results += run(replay_bench(infra, args.replay_events, console))
        if "rss" in wanted:
            results += run(rss_bench(infra, args.rss_labels, console))
    finally:
        infra.close()
    if not results:  # rss prints its own table (megabytes, not rates)
        return
    console.print(_table(results))


def _figure(x: float) -> str:
    return f"{x:.2f}" if x >= 0.1 else f"{x:.3f}"


def _table(results: list[Result]) -> Table:
    """The headline: per benchmark the median of its per-round ratios with their spread,
    and the CPU this process spent per event on each side (the figure a shared machine
    disturbs least); rates are medians of the rounds."""
    table = Table(title="Benchmarks (per second, medians of alternated rounds; ratio = "
                        "ours / baseline in the same round)")
    for col in ("benchmark", "events", "ours ev/s", "baseline", "baseline ev/s",
                "ratio (median)", "spread (rounds)", "CPU µs/event ours / baseline",
                "target"):
        table.add_column(col)
    for r in results:
        spread = r.spread
        cpu = r.cpu_us_per_event()
        table.add_row(
            r.name, f"{r.events:,}", f"{r.rate:,.0f}", r.baseline_name,
            f"{r.baseline_rate:,.0f}", _figure(r.ratio),
            f"{_figure(spread[0])}–{_figure(spread[1])} ({len(r.rounds)})" if spread
            else "one round",
            f"{cpu[0]:,.0f} / {cpu[1]:,.0f}" if cpu else "-", r.target)
    return table


if __name__ == "__main__":
    main()
