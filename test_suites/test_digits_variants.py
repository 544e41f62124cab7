"""Digits MLP in three precisions — float, int8 (QDQ) and ternary weights — on the board.

Each variant is checked twice: the board must compute the variant exactly as onnxruntime on
the host does (the harness and the board agree), then the variant is judged against the float
reference within its own quantization tolerance, and its accuracy on the held-out digits must
stay within one point of the float model's.

Models: fixtures/make_digits.py (float), fixtures/make_designs.py (int8 QDQ, calibrated on the
training split), fixtures/make_digits_ternary.py (ternary, fine-tuned through ternarization).
"""

from __future__ import annotations

import pytest

FLOAT = "fixtures/models/digits_mlp.onnx"
VECTORS = "fixtures/vectors/digits_test.npz"

# variant: (model, tolerance against the float reference)
VARIANTS = {
    "float": (FLOAT, {"rtol": 1e-4, "atol": 1e-5}),
    # int8: activations step ~0.03-0.1; a few elements may sit a step away.
    "int8": (
        "fixtures/designs/digits-dpu-zcu102/digits_mlp_int8_qdq.onnx",
        {
            "rtol": 0.05,
            "atol": 0.5,
            "max_mismatch_fraction": 0.01,
            "min_top1_agreement": 0.99,
            "min_cosine": 0.98,
        },
    ),
    # ternary: a network retrained through ternarization, not a rounding of the float one:
    # its scores differ freely (a vector the float model is unsure of can flip its
    # probabilities), so it is judged on what it decides.
    "ternary": (
        "fixtures/models/digits_mlp_ternary.onnx",
        {"rtol": 1.0, "atol": 10.0, "max_mismatch_fraction": 1.0, "min_top1_agreement": 0.97},
    ),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_digits_variant(dut, reference, variant):
    model, tolerance = VARIANTS[variant]
    run = dut.run(model, VECTORS)
    # The board computes the variant as the host does.
    reference.check(run, rtol=1e-4, atol=1e-4)
    # The variant against the float model (this is the comparison the reports show).
    report = reference.check(run, against=FLOAT, **tolerance)
    float_accuracy = report.accuracy["reference"]
    assert report.accuracy["device"] >= float_accuracy - 0.01, (
        f"{variant}: accuracy {report.accuracy['device']:.4f} is more than one point below "
        f"the float model's {float_accuracy:.4f}"
    )
