"""TensorRT's `trtexec`: its command line and its performance summary.

Each log line is prefixed `[MM/DD/YYYY-HH:MM:SS] [I] `; the summary follows
`=== Performance summary ===` with `Throughput: X qps` and lines such as
`Latency: min = a ms, max = b ms, mean = c ms, median = d ms, percentile(90%) = e ms, …`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pytest_think.errors import RemoteCommandError

_PREFIX = re.compile(r"^\[\d{2}/\d{2}/\d{4}-\d{2}:\d{2}:\d{2}\] \[[A-Z]\] ")
_STAT = re.compile(r"(min|max|mean|median|percentile\((\d+(?:\.\d+)?)%\)) = ([-\d.eE+]+) ms")
SUMMARY = "=== Performance summary ==="
METRICS = ("Latency", "Enqueue Time", "H2D Latency", "GPU Compute Time", "D2H Latency")


@dataclass
class TrtexecSummary:
    throughput_qps: float
    # metric -> {"min", "max", "mean", "median", "p90", "p95", "p99"} in milliseconds
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"throughput_qps": self.throughput_qps, "metrics_ms": self.metrics}


def parse_trtexec(output: str) -> TrtexecSummary:
    """The performance summary of a trtexec run; RemoteCommandError when there is none."""
    lines = [_PREFIX.sub("", line).strip() for line in output.splitlines()]
    try:
        start = lines.index(SUMMARY)
    except ValueError:
        tail = next((ln for ln in reversed(lines) if ln), "no output")
        raise RemoteCommandError(
            f"trtexec printed no performance summary; last line: {tail}"
        ) from None
    throughput = None
    metrics: dict[str, dict[str, float]] = {}
    for line in lines[start + 1 :]:
        name, sep, rest = line.partition(":")
        if not sep:
            continue
        if name == "Throughput":
            throughput = float(rest.split()[0])
        elif name in METRICS:
            stats = {}
            for key, pct, value in _STAT.findall(rest):
                stats[f"p{float(pct):g}" if pct else key] = float(value)
            metrics[name] = stats
    if throughput is None:
        raise RemoteCommandError("trtexec's performance summary has no Throughput line")
    return TrtexecSummary(throughput, metrics)


def trtexec_argv(engine: str, iterations: int, warmup_ms: int) -> list[str]:
    return [
        "trtexec",
        f"--loadEngine={engine}",
        f"--iterations={iterations}",
        f"--warmUp={warmup_ms}",
        "--duration=0",
    ]
