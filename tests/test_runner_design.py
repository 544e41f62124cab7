"""Designs run by their own command (FINN's driver.py shape): files in, files out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import yaml
from onnx import numpy_helper
from support import DIGITS_MODEL, DIGITS_VECTORS

# A bit-accurate fixed-point model of the MLP (Q4.12 activations and weights), as an
# hls4ml-style design would ship to run on the board's CPU next to its accelerator.
RUNNER = """
import argparse
import numpy as np

p = argparse.ArgumentParser()
p.add_argument("--exec_mode"); p.add_argument("--batchsize", type=int)
p.add_argument("--weights"); p.add_argument("--inputfile"); p.add_argument("--outputfile")
a = p.parse_args()
w = np.load(a.weights)
q = lambda v: np.round(v * 4096) / 4096
x = q(np.load(a.inputfile))
for i in range(3):
    x = q(x @ q(w[f"W{i}"]) + q(w[f"B{i}"]))
    if i < 2:
        x = np.maximum(x, 0)
e = np.exp(x - x.max(axis=1, keepdims=True))
np.save(a.outputfile, x.astype(np.float32))
probabilities = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
np.save(a.outputfile.replace("output_0", "output_1"), probabilities)
print(f"fixed-point model: {a.batchsize} vectors")
print("runtime[ms]: 0.25")
"""


def _design(directory: Path, runner: list[str]) -> Path:
    model = onnx.load(DIGITS_MODEL)
    weights = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    np.savez(directory / "weights.npz", **weights)
    (directory / "driver.py").write_text(RUNNER)
    design = {
        "name": "digits-fixed",
        "family": "generic",
        "reference": str(DIGITS_MODEL),
        "files": {"driver": "driver.py", "weights": "weights.npz"},
        "runtime": {
            "runner": runner,
            "io": "npy",
            "device_batch": 50,
            "device_time": {"pattern": r"runtime\[ms\]: ([0-9.]+)", "unit": "ms"},
        },
    }
    path = directory / "design.yaml"
    path.write_text(yaml.safe_dump(design))
    return path


FINN_ARGV = [
    "python3", "{driver}", "--exec_mode=execute", "--batchsize", "{batch}",
    "--weights", "{weights}", "--inputfile", "{input}", "--outputfile", "{output}",
]  # fmt: skip


def test_runner_design_is_run_and_checked_against_its_reference(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    design = _design(tmp_path, FINN_ARGV)
    pytester.makepyfile(
        f"""
        def test_fixed_point(dut, reference):
            run = dut.run_design({str(design)!r}, {str(DIGITS_VECTORS)!r})
            report = reference.check(run, rtol=1e-2, atol=1e-2, min_top1_agreement=0.99)
            # Q4.12 is close to float, not equal to it.
            assert 0 < report.outputs["logits"].max_abs_err < 0.05
            # 0.25 ms per runner call (at most 50 vectors, shared among them): frames of 256
            # and 194 vectors make 6 + 4 calls.
            # (each call's share is rounded down to whole nanoseconds)
            assert 0 <= 10 * 250_000 - sum(run.result.device_ns) < 10 * 50
            assert 5000 in run.result.device_ns
        """
    )
    pytester.runpytest("--board=sim").assert_outcomes(passed=1)


def test_runner_naming_an_unknown_file_role_is_one_line(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    design = _design(tmp_path, [*FINN_ARGV[:-1], "{bitstream}"])
    pytester.makepyfile(
        f"""
        def test_bad(dut):
            dut.run_design({str(design)!r}, {str(DIGITS_VECTORS)!r})
        """
    )
    result = pytester.runpytest("--board=sim")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            f"InputFileError: design file {design}: field 'runtime.runner': '{{bitstream}}' is "
            "neither a file role (driver, weights) nor one of batch, input, iodir, model, output"
        ]
    )
