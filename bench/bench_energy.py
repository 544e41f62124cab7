"""Energy benchmark: measured energy per inference against the twin's truth, by window length
and meter sample rate (T1 and T3 of the energy method, and the table in docs/energy.md).

    python bench/bench_energy.py [--json PATH] [--trials N]

Starts the `fpga-zcu102` twin with its Keysight N6705 twin, whose trace follows what the
board twin's device really does under the board file's power model, and measures the digits
MLP with the default method at several windows and sample rates. Each cell is the median of
the trials: its error against the truth the twin logs, or why the method refused it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from pytest_think.boards import BoardConfig, find_board
from pytest_think.device import Device
from pytest_think.emulator.launcher import TwinProcess
from pytest_think.families import open_board
from pytest_think.power.energy import EnergySettings, measure_energy

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "fixtures/models/digits_mlp.onnx"
VECTORS = ROOT / "fixtures/vectors/digits_test.npz"
WINDOWS_S = (0.25, 1.0, 4.0)
RATES_HZ = (1.0, 10.0, 100.0, 1000.0, None)  # None: the digitizer's finest (48.8 kHz)


def measure_grid(twin: TwinProcess, board: BoardConfig, trials: int) -> list[dict[str, Any]]:
    """Every window × rate cell against the twin's truth."""
    conn = open_board(twin.board(board), True)
    device = Device(conn)
    rows: list[dict[str, Any]] = []

    loop = device.prepare_loop(MODEL, VECTORS)  # as energy.measure does: loaded up front

    def run_loop(min_seconds: float, warmup: int) -> dict[str, Any]:
        return loop(min_seconds, warmup)

    def probe() -> dict[str, Any]:
        return loop(0.0, 0, 1)

    try:
        for window in WINDOWS_S:
            for rate in RATES_HZ:
                settings = EnergySettings(
                    window_s=window, trials=trials, idle_s=min(window, 1.0), sample_rate_hz=rate
                )
                report = measure_energy(device.meter, run_loop, settings, probe)
                truths = {t["start_unix_ns"]: t["mj_per_inference"] for t in twin.truth()}
                errors = [
                    (t.mj_per_inference - truths[t.start_unix_ns]) / truths[t.start_unix_ns]
                    for t in report.trials
                ]
                rows.append(
                    {
                        "window_s": window,
                        "rate_hz": report.sample_rate_hz,
                        "valid": report.valid,
                        "reason": report.reason,
                        "samples": statistics.median(t.samples for t in report.trials),
                        "error": statistics.median(errors),
                        "worst_error": max(errors, key=abs),
                        "alignment_error": max(t.alignment_error for t in report.trials),
                    }
                )
    finally:
        device.close()
        conn.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", type=Path, metavar="PATH")
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args(argv)
    board = find_board("fpga-zcu102", [ROOT / "boards"])
    with (
        tempfile.TemporaryDirectory(prefix="think-bench-energy-") as tmp,
        TwinProcess.start(board, Path(tmp) / "twin") as twin,
    ):
        rows = measure_grid(twin, board, args.trials)
    print(
        f"digits MLP on the fpga-zcu102 twin, Keysight N6705 twin, {args.trials} trials per "
        "cell, median error against the twin's truth"
    )
    print(f"{'window':>7} {'rate':>9} {'samples':>8} {'error':>8} {'worst':>8}  verdict")
    for r in rows:
        verdict = "valid" if r["valid"] else "INVALID: " + r["reason"].split(": ", 1)[-1]
        errors = (
            f"{r['error']:>+8.3%} {r['worst_error']:>+8.3%}"
            if r["samples"]
            else f"{'—':>8} {'—':>8}"
        )
        print(
            f"{r['window_s']:>6g}s {r['rate_hz']:>7.4g}Hz {r['samples']:>8.0f} {errors}  {verdict}"
        )
    valid = [r for r in rows if r["valid"]]
    t1 = all(abs(r["worst_error"]) <= 0.01 for r in valid)
    print(f"T1  every valid cell within 1 % of truth: {'PASS' if t1 and valid else 'FAIL'}")
    t3 = [r for r in rows if r["window_s"] == 1.0 and r["rate_hz"] <= 10.0 + 1e-6]
    t3_ok = bool(t3) and all(not r["valid"] for r in t3)
    print(f"T3  10 Hz (or slower) with a 1 s window flagged invalid: {'PASS' if t3_ok else 'FAIL'}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
