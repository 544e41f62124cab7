"""Farm benchmark (F3): what holding a labgrid place costs a session.

    python bench/bench_farm.py [--sessions N] [--json PATH]

Starts a real labgrid coordinator and exporter on 127.0.0.1 serving the `sim` twin in a place
(pytest_think.emulator.farm), then runs N sessions one after the other, each as a pytest run
does it: connect to the coordinator, reserve the place (by its name, then by its tags, on
alternate sessions), acquire it, read its resources into the board file, release it,
disconnect. Reports the median and the worst per-session seconds of each step and in all
(target: reserve + acquire + release ≤ 1 s). It only reports: the exit status is 0 for PASS
or MISS.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pytest_think.boards import board_dirs, find_board, load_board
from pytest_think.emulator.farm import TwinFarm
from pytest_think.farm.provider import FarmOptions, LabgridPlaces

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 1.0


def one_session(board_file: Path, by_tags: bool) -> dict[str, float]:
    config = load_board(board_file)
    if by_tags:
        assert config.labgrid is not None
        section = config.labgrid.model_copy(update={"place": None, "tags": {"board": "sim"}})
        config = config.model_copy(update={"labgrid": section})
    provider = LabgridPlaces(FarmOptions(), print)
    t0 = time.perf_counter()
    provider.client(config)
    t1 = time.perf_counter()
    reached = provider.reach(config)
    t2 = time.perf_counter()
    reached.close()
    t3 = time.perf_counter()
    provider.close()
    t4 = time.perf_counter()
    return {
        "connect_s": t1 - t0,
        "reserve_acquire_s": t2 - t1,
        "release_s": t3 - t2,
        "disconnect_s": t4 - t3,
        "hold_cycle_s": t3 - t1,
        "session_s": t4 - t0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    board = find_board("sim", board_dirs(ROOT, None))
    with tempfile.TemporaryDirectory(prefix="think-bench-farm-") as tmp:
        state = Path(tmp) / "state"
        os.environ["XDG_STATE_HOME"] = str(state)  # this run's records of held places
        with TwinFarm.start([board], Path(tmp) / "boards") as farm:
            board_file = farm.boards["sim"].board_file
            one_session(board_file, False)  # warm-up: imports, the first gRPC channel
            runs = [one_session(board_file, i % 2 == 1) for i in range(args.sessions)]
    figures = {
        key: {
            "median": statistics.median(r[key] for r in runs),
            "max": max(r[key] for r in runs),
        }
        for key in runs[0]
    }
    cycle = figures["hold_cycle_s"]["median"]
    verdict = "PASS" if cycle <= TARGET_S else "MISS"
    print(f"F3 labgrid place per session, {args.sessions} sessions (median / worst seconds):")
    for key, value in figures.items():
        print(f"  {key:<18} {value['median']:.4f} / {value['max']:.4f}")
    print(f"F3 reserve + acquire + release: {cycle:.4f} s (target <= {TARGET_S:g} s) {verdict}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        document = {"F3": {"figures": figures, "target_s": TARGET_S, "verdict": verdict}}
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
