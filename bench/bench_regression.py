"""Regression gate benchmark (R2): false alarms over unchanged runs, detection of a 10 % slowdown.

    python bench/bench_regression.py [--quick] [--json PATH] [--board NAME] [--runs N]

Runs `pytest test_suites/test_digits.py` (two tests, 450 vectors each) on a twin board's
copy, one session per run, as a lab's CI would: a baseline run, then N unchanged runs and
runs of a copy whose twin adds 10 % of the baseline's device time (its `twin.latency.fixed_us`
raised by a tenth of the measured median device time), interleaved so that this machine's load
falls on both alike. Each is judged by the plug-in itself, ``--think-baseline`` at the default
``--think-fail-on`` (latency 5 %, energy 3 %, accuracy 0.5 pt), from the results JSON's
``baseline`` entry and the session's exit status:

  R2f  false alarms: unchanged runs with any regression, over N (target 0);
  R2d  detection: slowed runs in which every test's latency is a regression (target all).

Boards: ``device-bound`` (default) is the sim board whose twin adds 1 ms ± 50 µs per
inference, so that the device time is the twin's, as a real device's is its own; any other
board name (``fpga-zcu102``: 35 µs ± 3 µs added to the model's execution on this machine's
cores) shows what host load does to a twin whose device time is mostly the host's.

It reports; it never asserts: the exit status is 0 whether a line reads PASS or MISS.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from pytest_think.boards import PACKAGED_BOARDS, board_dirs, find_board

REPO = Path(__file__).resolve().parent.parent
SUITE = "test_suites/test_digits.py"
SLOWDOWN = 0.10
DEVICE_BOUND = {"fixed_us": 1000.0, "jitter_us": 50.0}


def board_file(name: str, dest: Path, fixed_us: float | None = None) -> Path:
    """A copy of board `name` (``device-bound``: the sim board with DEVICE_BOUND), its twin's
    added latency `fixed_us` when given."""
    if name == "device-bound":
        data: dict[str, Any] = yaml.safe_load((PACKAGED_BOARDS / "sim.yaml").read_text())
        data["twin"]["latency"] = dict(DEVICE_BOUND)
    else:
        source = find_board(name, board_dirs(REPO, None)).source
        assert source is not None
        data = yaml.safe_load(source.read_text())
    data["name"] = "bench-gate"
    if fixed_us is not None:
        data["twin"].setdefault("latency", {})["fixed_us"] = round(fixed_us, 3)
    path = dest / f"bench-gate-{fixed_us or 'base'}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def session(board: Path, out: Path, baseline: Path | None = None) -> dict[str, Any]:
    """One pytest session; its results JSON and exit status."""
    args = [sys.executable, "-m", "pytest", SUITE, f"--board={board}", "--emulate", "-q"]
    args += ["-p", "no:cacheprovider", f"--think-json={out}"]
    if baseline is not None:
        args.append(f"--think-baseline={baseline}")
    proc = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600)
    if not out.is_file():
        raise SystemExit(f"pytest wrote no results ({proc.returncode}):\n{proc.stdout[-2000:]}")
    doc: dict[str, Any] = json.loads(out.read_text())
    doc["exit_status"] = proc.returncode
    return doc


def judged(doc: dict[str, Any]) -> dict[str, Any]:
    """What the gate said of one run."""
    entry = doc["baseline"]
    latency = [d for d in entry["deltas"] if d["figure"] == "latency"]
    return {
        "exit_status": doc["exit_status"],
        "regressions": [d["line"] for d in entry["deltas"] if d["verdict"] == "regression"],
        "latency_changes_pct": [round(d["change"] * 100, 2) for d in latency],
        "latency_regressions": sum(d["verdict"] == "regression" for d in latency),
        "latency_beyond_noise": sum(bool(d["beyond_noise"]) for d in latency),
        "tests": len(latency),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="5 unchanged, 2 slowed runs")
    parser.add_argument("--runs", type=int, default=20, help="unchanged runs (default 20)")
    parser.add_argument("--slowed", type=int, default=5, help="slowed runs (default 5)")
    parser.add_argument("--board", default="device-bound", help="board to copy (see above)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    runs, slowed_runs = (5, 2) if args.quick else (args.runs, args.slowed)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="think-bench-regression-") as tmp:
        scratch = Path(tmp)
        base_board = board_file(args.board, scratch)
        baseline = scratch / "baseline.json"
        base = session(base_board, baseline)
        p50s = [t["latency"]["device_ns"]["p50"] / 1e3 for t in base["tests"]]
        added = (yaml.safe_load(base_board.read_text())["twin"].get("latency") or {}).get(
            "fixed_us", 0.0
        )
        slow_board = board_file(args.board, scratch, added + SLOWDOWN * statistics.mean(p50s))
        slowed_latency = yaml.safe_load(slow_board.read_text())["twin"]["latency"]
        # Interleaved: a slowed run after every few unchanged ones.
        every = max(1, runs // max(1, slowed_runs))
        plan = []
        for k in range(runs):
            plan.append("unchanged")
            if (k + 1) % every == 0 and plan.count("slowed") < slowed_runs:
                plan.append("slowed")
        plan += ["slowed"] * (slowed_runs - plan.count("slowed"))
        results: dict[str, list[dict[str, Any]]] = {"unchanged": [], "slowed": []}
        for n, kind in enumerate(plan):
            board = base_board if kind == "unchanged" else slow_board
            doc = session(board, scratch / f"run-{n}.json", baseline)
            results[kind].append(judged(doc))
    unchanged, slowed = results["unchanged"], results["slowed"]
    alarms = sum(bool(r["regressions"]) for r in unchanged)
    detected = sum(r["latency_regressions"] == r["tests"] > 0 for r in slowed)
    changes = [abs(c) for r in unchanged for c in r["latency_changes_pct"]]
    slowed_changes = [c for r in slowed for c in r["latency_changes_pct"]]
    figures = {
        "board": args.board,
        "twin_latency_us": added,
        "baseline_p50_us": p50s,
        "slowed_twin_latency_us": slowed_latency,
        "unchanged_runs": len(unchanged),
        "false_alarm_runs": alarms,
        "slowed_runs": len(slowed),
        "detected_runs": detected,
        "unchanged_latency_change_pct_max": max(changes, default=None),
        "unchanged_latency_change_pct_median": statistics.median(changes) if changes else None,
        "unchanged_latency_beyond_noise": sum(r["latency_beyond_noise"] for r in unchanged),
        "slowed_latency_change_pct": slowed_changes,
        "exit_status_agrees": all(
            (r["exit_status"] != 0) == bool(r["regressions"]) for r in unchanged + slowed
        ),
        "runs": results,
        "seconds": round(time.perf_counter() - began, 1),
    }
    print(
        f"regression gate benchmark (board {args.board} copied, its twin adding {added} us; "
        f"baseline device p50 {', '.join(f'{p:.1f}' for p in p50s)} us; default thresholds)"
    )
    print(
        f"R2f  false alarms: {alarms}/{len(unchanged)} unchanged runs (target 0) "
        f"{'PASS' if alarms == 0 else 'MISS'}"
    )
    print(
        f"     |latency change| median {figures['unchanged_latency_change_pct_median']} %, "
        f"max {figures['unchanged_latency_change_pct_max']} %; beyond noise in "
        f"{figures['unchanged_latency_beyond_noise']} of {len(changes)} test runs"
    )
    print(
        f"R2d  detection of +{SLOWDOWN:.0%} device time: {detected}/{len(slowed)} slowed runs "
        f"(target all) {'PASS' if detected == len(slowed) else 'MISS'}; changes "
        + ", ".join(f"{c:+.1f}" for c in slowed_changes)
        + " %"
    )
    for r in unchanged:
        for line in r["regressions"]:
            print(f"     false alarm: {line}")
    print(f"     exit status agrees with the verdicts: {figures['exit_status_agrees']}")
    print(f"({figures['seconds']:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
