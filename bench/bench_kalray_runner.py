"""The Kalray twin's runner: what one 32-vector batch costs through ``kann_opencl_cnn``.

    python bench/bench_kalray_runner.py [--batches N]

The agent starts the runner once per batch, as on the hardware. The twin's tools are a native
client of the twin's MPPA device, which keeps the networks it loaded. Measured in this run, on
the digits KaNN design:

  K1  median wall seconds of one batch through the twin's ``kann_opencl_cnn`` (process start,
      the device's compute, the output files), after the first;
  K0  median wall seconds of starting a Python interpreter that imports numpy, onnx and
      onnxruntime (the least a batch cost when the tool was a Python script), for the record;
  their ratio K0 / K1 (target: >= 5).

It reports; it never asserts: the exit status is 0 whether the line reads PASS or MISS.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from pytest_think.boards import load_board
from pytest_think.emulator.launcher import TwinProcess
from pytest_think.private_dirs import PrivateDir

REPO = Path(__file__).resolve().parent.parent
NETWORK = REPO / "fixtures" / "designs" / "digits-kann" / "digits_mlp_fp16_network.bin"
BATCH = 32


def wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=40)
    args = parser.parse_args()
    board = load_board(REPO / "boards" / "kalray-mppa.yaml")
    with PrivateDir.make("think-bench-") as state, TwinProcess.start(board, state.path) as twin:
        tool = twin.sandbox_root / "opt/kalray/accesscore/bin/kann_opencl_cnn"
        with tempfile.TemporaryDirectory() as io:
            vectors = np.random.default_rng(0).random((BATCH, 64), dtype=np.float32)
            vectors.tofile(Path(io) / "input_0.bin")
            argv = [str(tool), str(NETWORK), io]
            wall(argv)  # the device loads the network once
            k1 = statistics.median(wall(argv) for _ in range(args.batches))
    imports = [sys.executable, "-c", "import numpy, onnx, onnxruntime"]
    k0 = statistics.median(wall(imports) for _ in range(5))
    ratio = k0 / k1
    print(f"K1 one {BATCH}-vector batch through the twin's kann_opencl_cnn: {k1 * 1e3:.1f} ms")
    print(f"K0 a Python start importing numpy, onnx, onnxruntime: {k0 * 1e3:.1f} ms")
    print(f"K0/K1 = {ratio:.1f} (target >= 5): {'PASS' if ratio >= 5 else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
