"""Recovery benchmark (R3): ten hangs in a row, each caught and the board brought back.

    python bench/bench_recovery.py [--hangs N] [--json PATH]

Starts the `fpga-zcu102` twin as a bench board powered through its Keysight N6705 twin's
output (``recovery.power: meter``), with the fault ``freeze_after_vectors: 300``: the whole
board freezes (SSH silent, new connections dropped) once it has taken 300 vectors since it
booted. One pytest session runs N pairs of tests: the first of each pair flashes the design
and streams the 450 digits vectors, so the board freezes in its stream; the second streams
200 vectors and checks them against onnxruntime. From the results JSON, per hang:

- detection: how long the stream waited for the answer that never came ÷ its watchdog bound
  (target: ≤ 1.05 — caught at its bound, not later);
- recovery: the recovery's seconds − the twin's boot time (target: ≤ 10 s; the SSH probe,
  which a frozen board makes wait its whole ``recovery.probe_timeout``, the power-off time,
  the reconnection and the re-flash included), and whether the design was flashed again
  (the reboot forgot the fabric);
- the test after it passed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from support import (  # noqa: E402
    DIGITS_MODEL,
    DIGITS_VECTORS,
    bench_twin,
    zcu102_design,
    zcu102_twin_file,
)

BOOT_S = 2.0  # the twin's boot time (its default)
FLOOR_S = 5.0  # the watchdog floor
SMALL = 1_500_000  # bitstream bytes


def suite(design: Path, hangs: int) -> str:
    tests = f"""
import numpy as np
from pathlib import Path
from pytest_think.vectors import VectorSet

MODEL = {str(DIGITS_MODEL)!r}
VECTORS = {str(DIGITS_VECTORS)!r}
DESIGN = {str(design)!r}

def first(n):
    return VectorSet(Path(VECTORS), {{"input": np.load(VECTORS)["input"][:n]}}, None)
"""
    for k in range(hangs):
        tests += f"""
def test_{k:02d}_hangs(dut):
    dut.flash(DESIGN)
    dut.run(MODEL, VECTORS)

def test_{k:02d}_after(dut, reference):
    assert not dut.flash(DESIGN).flashed
    reference.check(dut.run(MODEL, first(200)))
"""
    return tests


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--hangs", type=int, default=10)
    parser.add_argument("--json", type=Path, metavar="PATH")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="think-bench-recovery-") as tmp:
        base = Path(tmp)
        board_file = zcu102_twin_file(base, boot_s=BOOT_S, faults={"freeze_after_vectors": 300})
        data = yaml.safe_load(board_file.read_text())
        data.update(watchdog={"floor_s": FLOOR_S}, recovery={"power": "meter", "off_s": 0.5})
        board_file.write_text(yaml.safe_dump(data))
        design = zcu102_design(base, SMALL)
        (base / "test_recovery.py").write_text(suite(design, args.hangs))
        results = base / "results.json"
        with bench_twin(base, board_file, "zcu-bench", bitstream_bytes=SMALL) as (_, boards):
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-q",
                    "-p",
                    "no:cacheprovider",
                    "--board=zcu-bench",
                    f"--board-dir={boards}",
                    f"--think-json={results}",
                    str(base / "test_recovery.py"),
                ],
                cwd=base,
                capture_output=True,
                text=True,
            )
        if not results.is_file():
            print(proc.stdout[-3000:], proc.stderr[-2000:])
            return 1
        tests = json.loads(results.read_text())["tests"]
    rows: list[dict[str, Any]] = []
    by_name = {t["nodeid"].split("::")[-1]: t for t in tests}
    for k in range(args.hangs):
        hung, after = by_name[f"test_{k:02d}_hangs"], by_name[f"test_{k:02d}_after"]
        hang, recovery = hung.get("hang", {}), hung.get("recovery", {})
        rows.append(
            {
                "hang": k + 1,
                "vectors": hang.get("vectors"),
                "bound_s": hang.get("bound_s"),
                "waited_s": hang.get("waited_s"),
                "detection_ratio": hang["waited_s"] / hang["bound_s"] if hang else None,
                "power_cycled": recovery.get("power_cycled"),
                "recovery_s": recovery.get("seconds"),
                "recovery_minus_boot_s": recovery["seconds"] - BOOT_S if recovery else None,
                "probe_s": recovery.get("probe_s"),
                "reflashed": recovery.get("reflashed"),
                "after_passed": after["outcome"] == "passed",
            }
        )
    print(f"{'hang':>4} {'vectors':>10} {'bound s':>8} {'waited/bound':>12} "
          f"{'recovery s':>10} {'- boot s':>8} {'reflashed':>9} {'next test':>9}")  # fmt: skip
    nan = float("nan")
    for r in rows:
        print(
            f"{r['hang']:>4} {r['vectors']!s:>10} {r['bound_s']!s:>8} "
            f"{r['detection_ratio'] or nan:>12.3f} {r['recovery_s'] or nan:>10.2f} "
            f"{r['recovery_minus_boot_s'] or nan:>8.2f} {r['reflashed']!s:>9} "
            f"{'passed' if r['after_passed'] else 'NOT':>9}"
        )
    complete = all(r["detection_ratio"] is not None and r["recovery_s"] is not None for r in rows)
    worst_detection = max((r["detection_ratio"] or 0.0) for r in rows)
    worst_recovery = max((r["recovery_minus_boot_s"] or 0.0) for r in rows)
    all_after = all(r["after_passed"] for r in rows)
    ok = complete and worst_detection <= 1.05 and worst_recovery <= 10.0 and all_after
    print(
        f"R3  {len(rows)} hangs: detection/bound worst {worst_detection:.3f} (target <= 1.05), "
        f"recovery - boot worst {worst_recovery:.2f} s, median "
        f"{statistics.median(r['recovery_minus_boot_s'] or 0.0 for r in rows):.2f} s "
        f"(target <= 10 s), next test passed {sum(r['after_passed'] for r in rows)}/{len(rows)}"
        f"  {'PASS' if ok else 'MISS'}"
    )
    if args.json:
        args.json.write_text(json.dumps({"boot_s": BOOT_S, "hangs": rows, "pass": ok}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
