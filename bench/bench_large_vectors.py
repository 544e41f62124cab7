"""P6: peak memory of the harness while it streams a vector set larger than a gibibyte.

Runs, each in a fresh pytest process on the ``sim`` twin, and reads that process's peak RSS
from the kernel (``wait4`` resource usage — the twin and its agent are other processes):

* the baseline: the digits suite (plugin, onnxruntime, paramiko loaded; a few hundred vectors);
* the large suite: ``test_suites/test_large_vectors.py --run-slow`` — a 1.05 GiB memory-mapped
  .npy (made first, outside the measurement, by fixtures/make_large_vectors.py) streamed
  through the board, as many bytes of outputs coming back, all checked against onnxruntime
  on the host.

Prints both peaks, the large run's peak against the P6 target (≤ 300 MiB) and its ratio to the
vector file's size. The exit status is 0 for PASS and MISS alike: it reports, it does not gate.

    python bench/bench_large_vectors.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_MIB = 300.0
GIB = 2**30


def peak_rss_mib(args: list[str]) -> tuple[float, float, int]:
    """(peak RSS MiB, seconds, exit status) of `pytest args` in a child process."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", *args, "-q", "-p", "no:cacheprovider"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, time.perf_counter() - started, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "fixtures"))
    from make_large_vectors import large_vectors

    vectors = large_vectors(int(1.05 * GIB))  # made (or found) before anything is measured
    size_mib = vectors.stat().st_size / 2**20
    base, base_s, base_rc = peak_rss_mib(["test_suites/test_digits.py", "--board=sim"])
    large, large_s, large_rc = peak_rss_mib(
        ["test_suites/test_large_vectors.py", "--board=sim", "--run-slow"]
    )
    verdict = "PASS" if large <= TARGET_MIB and large_rc == 0 else "MISS"
    print(f"vector file: {vectors.name}, {size_mib:.0f} MiB")
    print(f"baseline (digits suite):  peak RSS {base:6.1f} MiB  ({base_s:.1f} s, exit {base_rc})")
    print(
        f"large suite (1.05 GiB):   peak RSS {large:6.1f} MiB  ({large_s:.1f} s, exit {large_rc})"
    )
    print(f"P6 peak RSS {large:.1f} MiB, target <= {TARGET_MIB:.0f}: {verdict}")
    print(
        f"   peak RSS / vector file = {large / size_mib:.3f}; above baseline {large - base:.1f} MiB"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "vector_file_mib": size_mib,
                    "baseline_peak_rss_mib": base,
                    "large_peak_rss_mib": large,
                    "target_mib": TARGET_MIB,
                    "verdict": verdict,
                    "large_exit_status": large_rc,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
