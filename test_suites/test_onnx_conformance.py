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

pytestmark = pytest.mark.conformance

DATA = Path(onnx.__file__).parent / "backend" / "test" / "data"
KINDS = ("pytorch-converted", "pytorch-operator")
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
    got = [run.outputs[name][0] for name in run.result.output_names]
    assert len(got) == len(expected), f"{len(got)} outputs, the case has {len(expected)}"
    for i, (g, e) in enumerate(zip(got, expected)):
        assert g.dtype == e.dtype, f"output {i}: dtype {g.dtype}, expected {e.dtype}"
        assert g.shape == e.shape, f"output {i}: shape {g.shape}, expected {e.shape}"
        if np.issubdtype(e.dtype, np.floating):
            np.testing.assert_allclose(g, e, rtol=1e-3, atol=1e-7, err_msg=f"output {i}")
        else:
            np.testing.assert_array_equal(g, e, err_msg=f"output {i}")
