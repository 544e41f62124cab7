"""The terminal summary: one aligned row per test that ran something on a board."""

from __future__ import annotations

from pytest_think.results import TestRecord


def _us(ns: float) -> str:
    return f"{ns / 1e3:.1f}"


def summary_lines(records: list[TestRecord]) -> list[str]:
    rows = [
        ("test", "outcome", "board", "vectors", "agreement", "dev p50 us", "dev p99 us", "vec/s")
    ]
    for record in records:
        for run_record in record.runs:
            run = run_record.run
            lat = run.latency()["device_ns"]
            compare = run_record.compare
            if compare is None:
                agreement = "unchecked"
            elif compare.get("top1_agreement") is not None:
                agreement = f"top1 {compare['top1_agreement']:.4f}"
            else:
                agreement = "ok" if compare["passed"] else f"{compare['mismatches']} bad"
            rows.append(
                (
                    record.nodeid.rsplit("::", 1)[-1],
                    record.outcome,
                    run.board,
                    str(run.count),
                    agreement,
                    _us(lat["p50"]),
                    _us(lat["p99"]),
                    f"{run.throughput_per_s:.0f}",
                )
            )
    if len(rows) == 1:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
        for r in rows
    ]
