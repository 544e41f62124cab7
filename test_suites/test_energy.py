"""Energy per inference of the digits MLP on the board, from its power meter (docs/energy.md).

Boards without a ``meter`` section skip this (``--require-power`` makes it fail instead).
Shorter windows for a quick look: ``--energy-window=1 --energy-trials=3``.
"""

from __future__ import annotations

MODEL = "fixtures/models/digits_mlp.onnx"
VECTORS = "fixtures/vectors/digits_test.npz"


def test_digits_energy_per_inference(energy):
    report = energy.measure(MODEL, VECTORS)
    assert report.mj_per_inference > 0
    assert report.as_json()["avg_power_w"] > report.idle_power_w
    # A twin knows the true energy of each window and adds it to the record (T1: within 1 %).
    truth = energy.last_record.get("twin_truth_mj_per_inference")
    if truth is not None:
        assert abs(report.mj_per_inference - truth) <= 0.01 * truth
