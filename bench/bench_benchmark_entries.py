"""Large runs as pytest-benchmark entries: a run of a million vectors (P-B1).

    python bench/bench_benchmark_entries.py [--vectors N] [--json PATH]

A run's device times become an entry whose rounds are every vector's time
(pytest_think.pytest.benchmarks.DeviceTimes, numpy over the run's array). Measured in this
run, on the same synthetic device times (lognormal around 20 us, 1 % outliers ×40):

  B1t  seconds to make the entry and every figure pytest-benchmark shows and compares
       (Stats.fields): DeviceTimes over the run's nanoseconds, and pytest-benchmark's own
       Stats fed the same rounds in seconds (what a list of rounds costs it); their ratio
       (target: >= 10);
  B1m  memory the entry holds until the session ends beyond the run's own array (tracemalloc,
       after its figures, in a second pass): DeviceTimes and Stats (target: DeviceTimes
       <= 1 % of Stats);
  B1j  seconds to write the entry with its rounds as --benchmark-json does (json, indent 4),
       for the record: the file has every vector's time, as asked.

It reports; it never asserts: the exit status is 0 whether a line reads PASS or MISS.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
from pytest_benchmark.stats import Stats

from pytest_think.pytest.benchmarks import DeviceTimes


def device_ns(count: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    ns = rng.lognormal(np.log(20_000), 0.2, count)
    ns[rng.random(count) < 0.01] *= 40
    return ns.astype(np.int64)


def timed(make: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    made = make()
    return made, time.perf_counter() - start


def held(make: Callable[[], Any]) -> int:
    """The bytes what `make` returns still holds (traced apart from the timing)."""
    gc.collect()
    tracemalloc.start()
    made = make()
    gc.collect()
    size, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del made
    return size


def ours(ns: np.ndarray) -> DeviceTimes:
    stats = DeviceTimes(ns, 1e9)
    stats.as_dict()
    return stats


def theirs(ns: np.ndarray) -> Stats:
    stats = Stats()
    for value in (ns / 1e9).tolist():
        stats.update(value)
    stats.as_dict()
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vectors", type=int, default=1_000_000)
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()
    ns = device_ns(args.vectors)
    mine, mine_s = timed(lambda: ours(ns))
    other, other_s = timed(lambda: theirs(ns))
    mine_bytes, other_bytes = held(lambda: ours(ns)), held(lambda: theirs(ns))
    figures_equal = all(
        mine.as_dict()[f] == other.as_dict()[f]
        for f in ("min", "max", "ld15iqr", "hd15iqr", "rounds", "outliers")
    )
    start = time.perf_counter()
    written = json.dumps({**mine.as_dict(), "data": mine.data}, indent=4)
    json_s = time.perf_counter() - start
    del other
    ratio = other_s / mine_s
    share = mine_bytes / other_bytes
    figures = {
        "vectors": args.vectors,
        "B1t_device_times_s": mine_s,
        "B1t_stats_s": other_s,
        "B1t_ratio": ratio,
        "B1m_device_times_bytes": mine_bytes,
        "B1m_stats_bytes": other_bytes,
        "B1m_share": share,
        "B1j_json_s": json_s,
        "B1j_json_bytes": len(written),
        "figures_equal": figures_equal,
    }
    same = "the same" if figures_equal else "NOT the same"
    print(f"{args.vectors} vectors (extremes, fences, outliers: {same} as pytest-benchmark's)")
    print(
        f"B1t entry + figures: DeviceTimes {mine_s:.3f} s, Stats {other_s:.3f} s, ratio "
        f"{ratio:.1f} (target >= 10) {'PASS' if ratio >= 10 else 'MISS'}"
    )
    print(
        f"B1m held: DeviceTimes {mine_bytes / 2**10:.1f} KiB, Stats {other_bytes / 2**20:.1f} MiB, "
        f"share {share:.2%} (target <= 1 %) {'PASS' if share <= 0.01 else 'MISS'}"
    )
    print(f"B1j --benchmark-json of the entry: {json_s:.2f} s, {len(written) / 2**20:.1f} MiB")
    if args.json:
        with open(args.json, "w") as stream:
            json.dump(figures, stream, indent=2)


if __name__ == "__main__":
    main()
