"""Run every benchmark and print a table of rates and ratios against raw baselines.

Baselines are measured in the same run, on the same infrastructure, with the same
payloads and producer settings, so the ratios mean something on a noisy shared machine.
"""

from __future__ import annotations

import argparse
import asyncio

from rich.console import Console
from rich.table import Table

from cites_runtime.testing.infra import resolve_infra

from .runtime_bench import Result, consumer_bench, relay_bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--relay-events", type=int, default=100_000)
    parser.add_argument("--consumer-events", type=int, default=50_000)
    args = parser.parse_args()
    console = Console()
    infra = resolve_infra()
    console.print(f"infrastructure: {infra.mode} (kafka {infra.kafka_bootstrap})")
    results: list[Result] = []
    try:
        results += asyncio.run(relay_bench(infra, args.relay_events, console))
        results += asyncio.run(consumer_bench(infra, args.consumer_events, console))
    finally:
        infra.close()
    table = Table(title="Benchmarks (events/s; ratio = ours / raw baseline, same run)")
    for col in ("benchmark", "events", "ours ev/s", "baseline", "baseline ev/s", "ratio",
                "target"):
        table.add_column(col)
    for r in results:
        table.add_row(r.name, f"{r.events:,}", f"{r.rate:,.0f}", r.baseline_name,
                      f"{r.baseline_rate:,.0f}", f"{r.ratio:.2f}", r.target)
    console.print(table)


if __name__ == "__main__":
    main()
