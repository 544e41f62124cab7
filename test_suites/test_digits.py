"""Digits MLP (UCI handwritten digits, 8x8): the board must agree with onnxruntime on the host
and classify the held-out digits as well as the reference does.

Model and vectors: fixtures/make_digits.py.
"""

from __future__ import annotations

MODEL = "fixtures/models/digits_mlp.onnx"
VECTORS = "fixtures/vectors/digits_test.npz"


def test_digits_mlp_agrees_with_reference(dut, reference):
    run = dut.run(MODEL, VECTORS)
    report = reference.check(run, rtol=1e-4, atol=1e-5)
    assert report.top1_agreement == 1.0


def test_digits_mlp_accuracy(dut, reference):
    run = dut.run(MODEL, VECTORS)
    report = reference.check(run, rtol=1e-4, atol=1e-5)
    assert report.accuracy["reference"] >= 0.95
    # Within one point of the reference on the held-out digits.
    assert run.accuracy() >= report.accuracy["reference"] - 0.01
