"""The terminal summary: one aligned row per board run, from the results JSON's test entries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_think.pytest.results import model_entries

HEADER = (
    "test",
    "outcome",
    "board",
    "vectors",
    "agreement",
    "dev p50 us",
    "dev p99 us",
    "vec/s",
    "mJ/inf",
)


def _energy(energy: dict[str, Any] | None) -> str:
    if not energy:
        return ""
    if not energy["valid"]:
        return "invalid"
    return f"{energy['mj_per_inference']:.4g}"


def _agreement(run: dict[str, Any]) -> str:
    compare, expected = run["compare"], run.get("expected")
    if compare is None and expected is not None:  # dut.expect: outputs given with the model
        verdict = "ok" if expected["passed"] else f"{len(expected['problems'])} bad"
        return f"{verdict} vs {expected['against']}"
    if compare is None:
        return "unchecked"
    if compare.get("top1_agreement") is not None:
        return f"top1 {compare['top1_agreement']:.4f}"
    if compare["passed"]:
        return "ok"
    if not any(o["elements"] for o in compare["outputs"].values()):
        return "structure"  # names, dtypes, shapes or counts differ: no value was compared
    return f"{compare['mismatches']} bad"


def summary_lines(tests: list[dict[str, Any]]) -> list[str]:
    rows = [HEADER]
    for test in tests:
        test_name = test["nodeid"].rsplit("::", 1)[-1]
        entries = model_entries(test)
        for entry in entries:
            name = f"{test_name} [{entry.label}]" if len(entries) > 1 else test_name
            run, energy = entry.run, entry.energy
            if run is None:  # an energy-only measurement
                board = (energy or {}).get("board", "")
                rows.append((name, test["outcome"], board, "", "", "", "", "", _energy(energy)))
                continue
            device = run["latency"]["device_ns"]
            rows.append(
                (
                    name,
                    test["outcome"],
                    run["board"],
                    str(run["vectors"]),
                    _agreement(run),
                    f"{device['p50'] / 1e3:.1f}",
                    f"{device['p99'] / 1e3:.1f}",
                    f"{run['throughput_per_s']:.0f}",
                    _energy(energy),
                )
            )
    if len(rows) == 1:
        return []
    return aligned(rows, left=3)


def aligned(rows: Sequence[Sequence[str]], left: int) -> list[str]:
    """Rows as aligned columns: the first `left` columns to the left, the others (figures)
    to the right."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))
        ).rstrip()
        for r in rows
    ]
