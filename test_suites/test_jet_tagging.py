"""Jet tagging: the hls4ml 16 → 64 → 32 → 32 → 5 MLP in fixed point (ap_fixed<16,6>) against
its float reference, as hls4ml validates a firmware model.

The jets are synthetic (fixtures/make_jets.py documents the generator: the public dataset
cannot be downloaded here). Tolerances are hls4ml's: class probabilities within
rtol = atol = 1e-2 — allowing the rare element a truncation step pushes past that — the same
decision on nearly every jet, and accuracy within one point of the float model.
"""

from __future__ import annotations

FLOAT = "fixtures/models/jets_mlp.onnx"
FIXED = "fixtures/models/jets_mlp_fixed16_6.onnx"
VECTORS = "fixtures/vectors/jets_test.npz"


def test_jet_tagger_fixed_point_against_float(dut, reference):
    run = dut.run(FIXED, VECTORS)
    reference.check(run, rtol=1e-4, atol=1e-4)  # the board computes the fixed-point model
    report = reference.check(
        run,
        against=FLOAT,
        rtol=1e-2,
        atol=1e-2,
        max_mismatch_fraction=0.005,
        min_top1_agreement=0.99,
    )
    drop = report.accuracy["reference"] - report.accuracy["device"]
    assert drop < 0.01, f"fixed point loses {drop:.2%} accuracy against float"
