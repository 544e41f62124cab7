"""The cost of switching models on the board: two models alternated, each run a switch.

An agent holds one model at a time (an Edge TPU's delegate holds the TPU's compiled model), so
a run of the other model sends a LOAD, and the agent's LOAD -> READY is what the switch cost.
A run of the model the agent holds already sends none. The table (`model switch`) gives each
switch; the results JSON has each run's `load` (docs/results.md).
"""

from __future__ import annotations

import statistics
from pathlib import Path

MODELS = ("fixtures/models/digits_mlp.onnx", "fixtures/models/digits_mlp_ternary.onnx")
VECTORS = "fixtures/vectors/digits_test.npz"
SWITCHES = 6  # runs, alternating the two models


def test_model_switch_cost(dut, reference, record_table):
    rows = []
    # The agent may hold the first model from an earlier test: start from the other one.
    dut.run(MODELS[1], VECTORS, label="before the switches")
    for k in range(SWITCHES):
        model = MODELS[k % 2]
        run = dut.run(model, VECTORS, label=f"switch {k} {Path(model).stem}")
        load = run.load
        assert load is not None and load.loaded, (
            f"switch {k} to {model}: no LOAD was sent, though the agent held the other model"
        )
        rows.append([k, Path(model).stem, load.device_ns / 1e6, load.host_ns / 1e6])
        if k < 2:  # each model, once: the board computes it as the host does
            reference.check(run, rtol=1e-4, atol=1e-4)
    held = dut.run(MODELS[(SWITCHES - 1) % 2], VECTORS, label="held")
    assert held.load is not None and not held.load.loaded, (
        "the model the agent held was loaded again: a run of the same model costs no switch"
    )
    # The first load may include the backend's start: the switches are the runs after it.
    switches = [r[2] for r in rows[1:]]
    record_table(
        "model switch",
        ["switch", "model", "LOAD -> READY on the board, ms", "round trip, ms"],
        rows,
        plot=("switch", ["LOAD -> READY on the board, ms"]),
    )
    record_table(
        "model switch cost",
        ["switches", "median ms", "max ms"],
        [[len(switches), statistics.median(switches), max(switches)]],
    )
