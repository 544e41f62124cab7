"""Structured pruning: the digits CNN with 0, 25, 50 and 75 % of its convolution channels
removed (fine-tuned after pruning), run on the board. Per variant: the board computes it as
the host does, its accuracy, device time and — on boards with a meter — energy per inference;
the table and the accuracy/cost trade-off plot go to the results JSON and Allure. A variant's
accuracy is its final exit's (the network's answer), in the tables and in the run's
``accuracy`` alike.

Models: fixtures/make_cnn.py (the 0 % variant is the unpruned cnn_early_exit.onnx).
"""

from __future__ import annotations

import numpy as np

VECTORS = "fixtures/vectors/digits_test_images.npz"
FINAL_EXIT = "exit2_logits"  # the variants keep both exits of the early-exit network
VARIANTS = {
    0: "fixtures/models/cnn_early_exit.onnx",
    25: "fixtures/models/cnn_pruned_25.onnx",
    50: "fixtures/models/cnn_pruned_50.onnx",
    75: "fixtures/models/cnn_pruned_75.onnx",
}


def test_pruned_variants_accuracy_latency_energy(dut, reference, board, request, record_table):
    energy = request.getfixturevalue("energy") if board.config.meter is not None else None
    rows = []
    for percent, model in VARIANTS.items():
        run = dut.run(model, VECTORS, label=f"{percent}% pruned")
        # The network's answer is its last exit: the run's accuracy and the table's are its.
        report = reference.check(run, rtol=1e-4, atol=1e-4, scores=FINAL_EXIT)
        accuracy = report.accuracy["device"]
        mj = None
        if energy is not None:
            mj = energy.measure(model, VECTORS, label=f"{percent}% pruned").mj_per_inference
        rows.append([percent, accuracy, float(np.mean(run.result.device_ns)) / 1e3, mj])
    columns = ["channels pruned %", "accuracy", "device us/inference", "mJ/inference"]
    record_table("pruning", columns, rows, plot=("channels pruned %", ["accuracy"]))
    cost = "mJ/inference" if energy is not None else "device us/inference"
    record_table(
        f"pruning: accuracy against {cost}",
        [cost, "accuracy"],
        [[r[columns.index(cost)], r[1]] for r in rows],
        plot=(cost, ["accuracy"]),
    )
    assert rows[0][1] >= 0.95, "the unpruned network should classify the digits"
