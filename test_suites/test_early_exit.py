"""Early exit (BranchyNet): a digits CNN with two exits, judged per exit and as a policy.

Per exit: accuracy on the held-out digits, device time and — on boards with a meter — energy
per inference, measured by running what the device computes when a vector leaves there
(``cnn_exit1.onnx``: the stem and the first exit; ``cnn_early_exit.onnx``: everything).

Policy: a vector leaves at exit 1 when its top softmax probability reaches a threshold. The
sweep gives, per threshold, the share leaving early, the accuracy, and the expected device
time and energy per inference, f·C(exit 1) + (1 − f)·C(whole), as BranchyNet accounts it (a
vector that continues has paid for the first exit's head). The table and its plot go to the
results JSON and Allure.

Models: fixtures/make_cnn.py.
"""

from __future__ import annotations

import numpy as np

WHOLE = "fixtures/models/cnn_early_exit.onnx"
EXIT1 = "fixtures/models/cnn_exit1.onnx"
VECTORS = "fixtures/vectors/digits_test_images.npz"
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.01)


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_early_exit_per_exit_and_threshold_sweep(dut, reference, board, request, record_table):
    whole = dut.run(WHOLE, VECTORS, label="exits 1 and 2")
    # The whole network's answer is exit 2; the stem's alone is exit 1: each run's accuracy
    # (the results JSON's) is the accuracy of the exit its row of the table stands for.
    whole_report = reference.check(whole, rtol=1e-4, atol=1e-4, scores="exit2_logits")
    early = dut.run(EXIT1, VECTORS, label="exit 1 only")
    early_report = reference.check(early, rtol=1e-4, atol=1e-4, scores="exit1_logits")
    labels = whole.vectors.labels
    exit1, exit2 = whole.outputs["exit1_logits"], whole.outputs["exit2_logits"]
    # The stem computes the same first exit whether or not the rest follows.
    np.testing.assert_array_equal(early.outputs["exit1_logits"], exit1)
    right1, right2 = exit1.argmax(axis=1) == labels, exit2.argmax(axis=1) == labels
    accuracy1, accuracy2 = early_report.accuracy["device"], whole_report.accuracy["device"]
    assert (accuracy1, accuracy2) == (float(right1.mean()), float(right2.mean()))
    assert accuracy2 >= 0.95 and accuracy1 >= 0.90

    time1 = float(np.mean(early.result.device_ns)) / 1e3
    time2 = float(np.mean(whole.result.device_ns)) / 1e3
    energy1 = energy2 = None
    if board.config.meter is not None:
        energy = request.getfixturevalue("energy")
        energy1 = energy.measure(EXIT1, VECTORS, label="exit 1").mj_per_inference
        energy2 = energy.measure(WHOLE, VECTORS, label="exit 2").mj_per_inference
    record_table(
        "exits",
        ["exit", "accuracy", "device us/inference", "mJ/inference"],
        [[1, accuracy1, time1, energy1], [2, accuracy2, time2, energy2]],
    )

    confidence = _softmax(exit1).max(axis=1)
    rows = []
    for threshold in THRESHOLDS:
        leaves = confidence >= threshold
        share = float(leaves.mean())
        rows.append(
            [
                threshold,
                share,
                float(np.where(leaves, right1, right2).mean()),
                share * time1 + (1 - share) * time2,
                None
                if energy1 is None or energy2 is None
                else share * energy1 + (1 - share) * energy2,
            ]
        )
    columns = [
        "threshold",
        "share leaving at exit 1",
        "accuracy",
        "device us/inference",
        "mJ/inference",
    ]
    plot_y = "mJ/inference" if energy1 is not None else "device us/inference"
    record_table("early-exit threshold sweep", columns, rows, plot=("threshold", ["accuracy"]))
    record_table(
        f"early exit: accuracy against {plot_y}",
        [plot_y, "accuracy"],
        [[r[columns.index(plot_y)], r[2]] for r in rows],
        plot=(plot_y, ["accuracy"]),
    )
    # Nobody leaves above certainty: the last row is the whole network.
    assert rows[-1][1] == 0.0 and rows[-1][2] == accuracy2
    # A higher threshold never lets more vectors leave early.
    shares = [r[1] for r in rows]
    assert shares == sorted(shares, reverse=True)
