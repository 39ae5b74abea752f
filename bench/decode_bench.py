"""What decoding one event costs, in CPU: ``python -m bench.decode_bench``.

The benches' payload (``TerritoryLabelled``, 2 communes, 3 QPVs, 12 schools: ~2 KB of
JSON), pre-encoded as the relay publishes it, decoded in alternated rounds, each way over
the same records, with the collector set as a service sets it. Printed per event: CPU µs
(``time.process_time``; min and median of the rounds) and the ratio to ``json.loads`` of
the same bytes in the same run. The ways:

- ``json.loads``: the baseline, parsing alone;
- ``lax model_validate_json``: the envelope's model, pydantic's default mode (Python
  validators for the codes): what the codec's fast path ran before strict decoding;
- ``strict model_validate_json``: the same model, strict (codes checked by their pattern
  in pydantic-core): what the codec's fast path runs first now;
- ``decode``: :func:`cites_contracts.decode` with the record's headers, as the consumer
  runner calls it;
- ``decode before``: the codec's fast path as it was before (the headers' hint, lax
  validation, the envelope's checks), kept here to compare in the same run;
- ``decode, codes not canonical``: ``decode`` of records whose codes are lower case
  (valid, normalised by lax validation): strict refuses them first, the cost of falling
  back.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from labelling.examples import territory_labelled

from cites_contracts import Envelope, Event, decode, encode
from cites_contracts.codec import EncodedRecord, _checked, _hint
from cites_contracts.envelope import envelope_model, registry
from cites_contracts.events import TerritoryLabelled
from cites_runtime import tuning

__all__ = ["main"]


def decode_before(value: bytes, headers: list[tuple[str, bytes]]) -> Envelope[Event]:
    """The codec's fast path before strict decoding (a valid record with its headers)."""
    hint = _hint(headers)
    assert hint is not None
    spec = registry.get(*hint)
    assert spec is not None
    fast = envelope_model(spec.model).model_validate_json(value)
    assert fast.type == spec.type and fast.version == spec.version
    return _checked(fast, spec)


def _lower_codes(record: EncodedRecord) -> bytes:
    raw = json.loads(record.value)
    data = raw["data"]
    data["lead_college_uai"] = data["lead_college_uai"].lower()
    for school in data["perimeter"]["schools"]:
        school["uai"] = school["uai"].lower()
    for qpv in data["perimeter"]["qpvs"]:
        qpv["code"] = qpv["code"].lower()
    return json.dumps(raw).encode()


def measure(events: int, rounds: int) -> dict[str, list[float]]:
    records = [encode(Envelope.wrap(territory_labelled(i), sequence=1)) for i in range(events)]
    lowered = [(_lower_codes(r), r.headers) for r in records]
    model = envelope_model(TerritoryLabelled)
    for r in records[:100]:  # the fast path is what it claims, on this payload
        assert decode(r.value, r.headers) == decode_before(r.value, r.headers)
        assert model.model_validate_json(r.value, strict=True) == model.model_validate_json(r.value)
    pairs = [(r.value, r.headers) for r in records]
    ways: dict[str, tuple[Callable[[bytes, Any], Any], list[tuple[bytes, Any]]]] = {
        "json.loads": (lambda v, h: json.loads(v), pairs),
        "lax model_validate_json": (lambda v, h: model.model_validate_json(v), pairs),
        "strict model_validate_json": (lambda v, h: model.model_validate_json(v, strict=True),
                                       pairs),
        "decode": (decode, pairs),
        "decode before": (decode_before, pairs),
        "decode, codes not canonical": (decode, lowered),
    }
    tuning.tune_gc()  # the collector as a service sets it
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(rounds):
        for name, (way, inputs) in ways.items():
            started = time.process_time()
            for value, headers in inputs:  # each result dropped, as the runner's chunks are
                way(value, headers)
            times[name].append((time.process_time() - started) / events * 1e6)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    times = measure(args.events, args.rounds)
    base = statistics.median(times["json.loads"])
    print(f"{args.events:,} TerritoryLabelled records, {args.rounds} alternated rounds; "
          "CPU µs per event (min / median of the rounds), ratio of medians to json.loads")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:30s} {min(values):7.1f} / {median:7.1f} µs   ×{median / base:.2f}")


if __name__ == "__main__":
    main()
