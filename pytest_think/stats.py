"""Summary statistics for timings (integer nanoseconds in, floats out)."""

from __future__ import annotations

import math

import numpy as np

# z for a two-sided 95 % interval.
Z95 = 1.959963984540054


def median_interval(sorted_ns: np.ndarray, z: float = Z95) -> tuple[float, float]:
    """A distribution-free 95 % confidence interval of the median of sorted samples.

    The ranks n/2 ± z·√n/2 of the order statistics (the binomial interval): no assumption on
    the shape of the timing distribution, no resampling, the same answer every time."""
    n = len(sorted_ns)
    if n == 0:
        return 0.0, 0.0
    half = z * math.sqrt(n) / 2
    lo = max(0, math.floor(n / 2 - half))
    hi = min(n - 1, math.ceil(n / 2 + half) - 1)
    return float(sorted_ns[lo]), float(sorted_ns[max(lo, hi)])


def latency_stats(ns: np.ndarray) -> dict[str, float]:
    """n, mean, p50, p99, min, max of a timing array in nanoseconds, and p50_lo/p50_hi: the
    95 % interval of the median (the run's noise, which regressions are judged beyond)."""
    if len(ns) == 0:
        return {
            "n": 0, "mean": 0.0, "p50": 0.0, "p99": 0.0, "min": 0.0, "max": 0.0,
            "p50_lo": 0.0, "p50_hi": 0.0,
        }  # fmt: skip
    a = np.sort(np.asarray(ns, dtype=np.float64))
    p50, p99 = np.percentile(a, [50, 99])
    lo, hi = median_interval(a)
    return {
        "n": len(a),
        "mean": float(a.mean()),
        "p50": float(p50),
        "p99": float(p99),
        "min": float(a[0]),
        "max": float(a[-1]),
        "p50_lo": lo,
        "p50_hi": hi,
    }
