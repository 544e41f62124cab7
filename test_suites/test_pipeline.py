"""A model cut into N segments and run as a pipeline — one worker per segment, on N devices
where the board has them (Edge TPUs; several accelerators), the segments of successive vectors
at once — must give the unsegmented model's outputs exactly, vector for vector. Throughput and
each stage's device time are recorded against N: a vector's device time is the sum of its
stages', and each stage's share of the work shows where the pipeline's bottleneck is.

Segments: fixtures/make_designs.py (float ONNX for CPU boards, int8 TFLite for Edge TPUs, cut
where ``edgetpu_compiler --num_segments`` would).
"""

from __future__ import annotations

import numpy as np

VECTORS = "fixtures/vectors/digits_test.npz"


def test_segmented_model_equals_the_whole_model(dut, pipeline_designs, record_table):
    runs = {
        n: dut.run_design(design, VECTORS, label=f"{n} segments") for n, design in pipeline_designs
    }
    whole = runs[1]
    for n, run in runs.items():
        for name, expected in whole.outputs.items():
            got = run.outputs[name]
            assert got.dtype == expected.dtype and got.shape == expected.shape
            differ = np.flatnonzero(
                np.any(got.reshape(len(got), -1) != expected.reshape(len(got), -1), axis=1)
            )
            assert differ.size == 0, (
                f"{n} segments: output '{name}' differs from the whole model's on "
                f"{differ.size} vectors (first: {differ[:5].tolist()})"
            )
    for n, run in runs.items():
        stages = run.stage_latency()
        assert len(stages) == n, f"{n} segments ran in {len(stages)} stages"
        assert all(s["n"] == run.count and s["p50"] > 0 for s in stages), stages
    deepest = max(runs)
    record_table(
        "throughput against segments",
        ["segments", "vectors/s", "device p50 us"] + [f"stage {k} p50 us" for k in range(deepest)],
        [
            [n, round(run.throughput_per_s, 1), round(run.latency()["device_ns"]["p50"] / 1e3, 2)]
            + [round(s["p50"] / 1e3, 2) for s in run.stage_latency()]
            + [None] * (deepest - n)
            for n, run in sorted(runs.items())
        ],
        plot=("segments", ["vectors/s"]),
    )
