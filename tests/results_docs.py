"""Small results documents built in a test (for the baseline and history tests): a run's
figures chosen, everything else as pytest --think-json writes it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def run(label: str, sha: str, p50_us: float, half_us: float = 0.5) -> dict[str, Any]:
    ns = p50_us * 1e3
    return {
        "label": label,
        "board": "sim",
        "model": f"/m/{label}.onnx",
        "model_sha256": sha,
        "vectors": 450,
        "accuracy": {"device": 0.97, "reference": 0.97},
        "latency": {"device_ns": {"n": 450, "p50": ns, "p99": 2 * ns, "p50_lo": ns - half_us * 1e3,
                                  "p50_hi": ns + half_us * 1e3}},
        "throughput_per_s": 1e6 / p50_us,
    }  # fmt: skip


def doc(tests: list[dict[str, Any]], board: str = "sim", **extra: Any) -> dict[str, Any]:
    board_entry = {
        "name": board,
        "family": "generic",
        "twin": True,
        "identity": None,
        "agent": None,
    }
    return {
        "schema": "pytest-think/results",
        "schema_version": 1,
        "created": "2026-12-01T10:00:00+00:00",
        "pytest_think": "0.1.0",
        "board": board_entry,
        "boards": [board_entry],
        "tests": tests,
        **extra,
    }


def entry(nodeid: str, runs: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"nodeid": nodeid, "outcome": "passed", "duration_s": 1.0, "board": "sim",
            "runs": runs, **runs[-1], **extra}  # fmt: skip


def write(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(json.dumps(doc))
    return path
