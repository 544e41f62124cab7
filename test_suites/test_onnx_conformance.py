"""ONNX conformance: the PyTorch-exported cases of ONNX's own backend test suite, shipped in
the ``onnx`` wheel (``pytorch-converted``, ``pytorch-operator``: a model with ``input_N.pb`` and
``output_N.pb``), streamed through the board and judged by the backend-test rules: the number
of outputs, each output's shape and dtype, then values within rtol 1e-3 / atol 1e-7.

A case the board's backend cannot run (it refuses to load or execute the model, or a firmware
does not hold it) is an xfail with the backend's reason, never a silent skip: the report shows
what the board lacks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from pytest_think.errors import AgentRefused, UnsupportedModel
from pytest_think.model_signature import VectorSignature

pytestmark = pytest.mark.conformance

DATA = Path(onnx.__file__).parent / "backend" / "test" / "data"
KINDS = ("pytorch-converted", "pytorch-operator")
AGAINST = "ONNX expected outputs"
CASES = sorted(p for kind in KINDS for p in (DATA / kind).iterdir() if (p / "model.onnx").is_file())


def _tensors(case: Path, prefix: str) -> list[np.ndarray]:
    files = sorted(
        (case / "test_data_set_0").glob(f"{prefix}_*.pb"), key=lambda f: int(f.stem.split("_")[1])
    )
    arrays = []
    for f in files:
        tensor = onnx.TensorProto()
        tensor.ParseFromString(f.read_bytes())
        arrays.append(numpy_helper.to_array(tensor))
    return arrays


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.name}" for c in CASES])
def test_onnx_backend_case(dut, case, tmp_path):
    model = onnx.load(case / "model.onnx")
    initializers = {i.name for i in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in initializers]
    inputs = _tensors(case, "input")
    expected = _tensors(case, "output")
    assert len(names) == len(inputs), f"{case.name}: {len(inputs)} inputs for {names}"
    # One vector: each input whole, behind the vector axis.
    vectors = tmp_path / "vectors.npz"
    np.savez(vectors, **{name: a[np.newaxis] for name, a in zip(names, inputs)})
    try:
        run = dut.run(case / "model.onnx", vectors)
    except UnsupportedModel as exc:  # newer than the board's onnxruntime: found before upload
        pytest.xfail(f"the board's backend cannot run {case.name}: {exc}")
    except AgentRefused as exc:
        # no_model: a microcontroller whose firmware was not built with the case.
        if exc.code in ("load_failed", "infer_failed", "no_model"):
            pytest.xfail(f"the board's backend cannot run {case.name}: {exc}")
        raise
    # A vector's outputs are the case's without the batch axis of 1 where the model has one
    # (the vector file's inputs were read without it too: agent/think_layout.py).
    specs = VectorSignature.of(run.signature).outputs
    expected = [e[0] if spec.batched else e for spec, e in zip(specs, expected)]
    # Checked against the case's own expected outputs (what the summary row and the results
    # JSON say), not against onnxruntime on the host.
    report = dut.expect(run, expected, against=AGAINST, rtol=1e-3, atol=1e-7)
    assert report.passed, report.summary()
