"""A vector set larger than a gibibyte, streamed through the board in bounded memory.

The vectors are generated once into a memory-mapped .npy (fixtures/make_large_vectors.py,
cached under reports/cache/); the harness reads it front to back, letting each slice go once
sent. The model also returns an image per vector, so as many bytes come back as go out; they
land in a memory-mapped store whose written pages are let go too. Neither direction's memory
grows with the file. Every vector must come back exactly once and agree with onnxruntime on
the host. Slow: run with ``--run-slow``. The memory figure (P6) is measured by
bench/bench_large_vectors.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
MODEL = FIXTURES / "models" / "digits_mlp_64x64.onnx"
GIB = 2**30


@pytest.mark.slow
def test_more_than_a_gibibyte_of_vectors(dut, reference):
    sys.path.insert(0, str(FIXTURES))
    from make_large_vectors import large_vectors

    path = large_vectors(int(1.05 * GIB))
    expected = np.load(path, mmap_mode="r").shape[0]
    run = dut.run(MODEL, path)
    assert run.count == expected and run.count * run.vectors.bytes_per_vector > GIB
    assert len(run.result.device_ns) == expected and min(run.result.device_ns) > 0
    assert isinstance(run.outputs["seen"], np.memmap)  # 1 GiB of outputs: not in memory
    reference.check(run, rtol=1e-4, atol=1e-5)
