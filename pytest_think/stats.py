"""Summary statistics for timings (integer nanoseconds in, floats out)."""

from __future__ import annotations

import numpy as np


def latency_stats(ns: np.ndarray) -> dict[str, float]:
    """n, mean, p50, p99, min, max of a timing array in nanoseconds."""
    if len(ns) == 0:
        return {"n": 0, "mean": 0.0, "p50": 0.0, "p99": 0.0, "min": 0.0, "max": 0.0}
    a = np.asarray(ns, dtype=np.float64)
    p50, p99 = np.percentile(a, [50, 99])
    return {
        "n": len(a),
        "mean": float(a.mean()),
        "p50": float(p50),
        "p99": float(p99),
        "min": float(a.min()),
        "max": float(a.max()),
    }
