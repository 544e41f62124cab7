"""Shapes, dtypes and batch axes: every model's per-vector shapes decided once from its
signature (think_layout.py, model_signature.py) and used alike by the board, the reference,
accuracy and top-k, on sim and on a twin of each family that runs ONNX models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import shape_models
import support
import yaml
from support import REPO, SESSION_TEST

from pytest_think.agent.think_layout import layout
from pytest_think.checking import Tolerance, compare
from pytest_think.errors import InputFileError
from pytest_think.model_signature import VectorSignature
from pytest_think.reference import ReferenceModel
from pytest_think.vectors import load_vectors


def _sig(ins: list[list[int | None]], outs: list[list[int | None]]) -> dict[str, Any]:
    def specs(prefix: str, shapes: list[list[int | None]]) -> list[dict[str, Any]]:
        return [
            {"name": f"{prefix}{k}", "dtype": "float32", "shape": s} for k, s in enumerate(shapes)
        ]

    return {"inputs": specs("x", ins), "outputs": specs("y", outs)}


@pytest.mark.parametrize(
    ("ins", "outs", "expected"),
    [
        ([[None, 16]], [[None, 4]], ([True], [True], True)),  # symbolic batch: calls of many
        ([[1, 16]], [[1, 4]], ([True], [True], False)),  # fixed batch of 1: one a call
        ([[16]], [[4]], ([False], [False], False)),  # no batch axis
        ([[3, 16]], [[3, 4]], ([False], [False], False)),  # a fixed 3 is no batch axis
        ([[None, 4]], [[None, 4], []], ([True], [True, False], False)),  # a reduction
        ([[1, 8], []], [[1, 4], [1]], ([True, False], [True, True], False)),  # mixed inputs
        ([[]], [[]], ([False], [False], False)),  # scalars
    ],
)
def test_the_batch_axes_of_a_signature(
    ins: list[list[int | None]], outs: list[list[int | None]], expected: tuple[Any, ...]
) -> None:
    assert tuple(layout(_sig(ins, outs))) == expected


def _load(tmp_path: Path, shape: list[int | None], arr: np.ndarray) -> np.ndarray:
    path = tmp_path / "v.npy"
    np.save(path, arr)
    return load_vectors(path, _sig([shape], [[4]])).inputs["x0"]


def test_vectors_stored_with_the_batch_axis_of_1_are_the_same_vectors(tmp_path: Path) -> None:
    x = np.arange(200 * 16, dtype=np.float32).reshape(200, 16)
    plain = _load(tmp_path, [1, 16], x)
    stored = _load(tmp_path, [1, 16], x[:, None, :])
    assert plain.shape == stored.shape == (200, 16)
    assert np.array_equal(plain, stored)
    assert isinstance(stored, np.memmap)  # a view of the mapped file, not a copy
    assert _load(tmp_path, [None, 16], x[:, None, :]).shape == (200, 16)


@pytest.mark.parametrize(
    ("shape", "stored", "advice"),
    [
        # One vector saved without the vector axis: 16 vectors of () or one of (16,)?
        ([1, 16], (16,), "one vector without the vector axis: save it as a[None] (shape (1, 16))"),
        # A fixed first axis of 8: a batch of 8 samples, or an (8, 16) input?
        ([8, 16], (20, 16), "if the model's first axis is a batch of 8, group the samples"),
        ([1, 1, 28, 28], (5, 28, 28), "reshape it, a.reshape(len(a), 1, 28, 28)"),
        ([None, 16], (5, 15), "one vector of the model (input (?, 16)) is (16,)"),
        # Batches of 4 samples for a model with a symbolic batch: a vector is one sample.
        ([None, 16], (5, 4, 16), "if each holds a batch of 4, save the samples as vectors"),
    ],
)
def test_a_vector_file_that_does_not_fit_says_how_to_shape_it(
    tmp_path: Path, shape: list[int | None], stored: tuple[int, ...], advice: str
) -> None:
    with pytest.raises(InputFileError) as info:
        _load(tmp_path, shape, np.zeros(stored, np.float32))
    message = str(info.value)
    assert "\n" not in message and str(tmp_path / "v.npy") in message and "'x0'" in message
    assert advice in message


def test_a_real_shape_disagreement_is_reported_without_a_mismatch_count(tmp_path: Path) -> None:
    case = shape_models.cases()["fixed_batch_1"]
    model, vectors, _ = shape_models.write(tmp_path, "m", case)
    ref = ReferenceModel(model)
    vset = load_vectors(vectors, ref.signature)
    report = compare(ref, vset, {"logits": np.zeros((vset.count, 5), np.float32)}, Tolerance())
    assert not report.passed
    assert report.problems == [
        "output 'logits': the board's vectors have shape (5,), the reference's (4,)"
    ]
    summary = report.summary()
    assert "mismatching" not in summary and "no value was compared" in summary


def test_a_reference_that_takes_other_vectors_is_one_line_before_it_runs(tmp_path: Path) -> None:
    cases = shape_models.cases()
    model, vectors, _ = shape_models.write(tmp_path, "nhwc", cases["nhwc_uint8"])
    other, _, _ = shape_models.write(tmp_path, "nchw", cases["nchw_int8"])
    vset = load_vectors(vectors, ReferenceModel(model).signature)
    with pytest.raises(InputFileError) as info:
        compare(ReferenceModel(other), vset, {}, Tolerance())
    assert str(info.value) == (
        f"model {other}: input 'image' takes vectors of (3, 8, 8) int8; those of {vectors} "
        "are (8, 8, 3) uint8"
    )


@pytest.mark.parametrize("name", sorted(shape_models.cases()))
def test_the_reference_gives_each_models_per_vector_outputs(tmp_path: Path, name: str) -> None:
    case = shape_models.cases()[name]
    model, vectors, expected = shape_models.write(tmp_path, name, case)
    ref = ReferenceModel(model)
    vset = load_vectors(vectors, ref.signature)
    spec = VectorSignature.of(ref.signature)
    assert {o.name: o.vector for o in spec.outputs} == case.outputs
    assert spec.free == case.free
    want = np.load(expected)
    for start, stop, chunk in ref.run_chunks(vset, chunk=3):
        for out, arr in chunk.items():
            assert arr.shape == (stop - start, *case.outputs[out])
            exp = want[out.replace("/", "|")][start:stop]
            assert arr.dtype == exp.dtype
            np.testing.assert_allclose(arr, exp, rtol=1e-5, atol=1e-6)


INNER = """
import json
import numpy as np
import onnx
import pytest

CASES = json.loads(open({cases!r}).read())


@pytest.mark.parametrize("device_batch", [1, 3])
@pytest.mark.parametrize("name", sorted(CASES))
def test_shapes(dut, reference, name, device_batch):
    case = CASES[name]
    run = dut.run(case["model"], case["vectors"], device_batch=device_batch)
    assert run.signature["device_batch"] == (device_batch if case["free"] else 1)
    want = np.load(case["expected"])
    shapes = {{n: list(a.shape[1:]) for n, a in run.outputs.items()}}
    assert shapes == case["outputs"]
    for out in case["outputs"]:
        got, exp = run.outputs[out], want[out.replace("/", "|")]
        assert got.dtype == exp.dtype
        np.testing.assert_allclose(got, exp, rtol=1e-5, atol=1e-6)
    report = reference.check(run)
    if case["labels"]:
        assert report.top1_agreement == 1.0
        accuracy = report.accuracy
        assert run.accuracy() == accuracy["device"] == accuracy["reference"]
"""

# sim (the generic family) and a twin of each family whose boards run ONNX models.
BOARDS = [
    "sim",
    "jetson-orin-nano",
    "fpga-zcu102",
    "kria-kv260",
    "kalray-mppa",
    "coral-usb",
    "mcu-uart",
]


@SESSION_TEST  # a session of its own, each of its tests within the ini's limit
@pytest.mark.parametrize("board", BOARDS)
def test_every_layout_runs_on_the_board_as_on_the_reference(
    pytester: pytest.Pytester, board: str
) -> None:
    cases = {}
    for name, case in shape_models.cases().items():
        if board == "mcu-uart" and isinstance(case.model, Path):
            continue  # 600 KB vectors: minutes over a 921600-baud line
        model, vectors, expected = shape_models.write(pytester.path / "data", name, case)
        cases[name] = {
            "model": str(model),
            "vectors": str(vectors),
            "expected": str(expected),
            "outputs": {n: list(s) for n, s in case.outputs.items()},
            "labels": case.labels,
            "free": case.free,
        }
    (pytester.path / "cases.json").write_text(json.dumps(cases))
    pytester.makepyfile(INNER.format(cases=str(pytester.path / "cases.json")))
    args = ["--board=sim"]
    if board != "sim":
        (pytester.path / "boards").mkdir()
        data = yaml.safe_load((REPO / "boards" / f"{board}.yaml").read_text())
        if board == "mcu-uart":  # the firmware holds the models it runs
            data["twin"]["uart"]["models"] = [c["model"] for c in cases.values()]
        (pytester.path / "boards" / f"{board}.yaml").write_text(yaml.safe_dump(data))
        args = [f"--board={board}", "--emulate"]
    limits = [
        "-p",
        "no:cacheprovider",
        "-p",
        "no:labgrid",
        "-o",
        f"timeout={support.TEST_LIMIT_S:g}",
    ]
    result = pytester.runpytest_subprocess(*args, *limits)
    result.assert_outcomes(passed=2 * len(cases))


DISAGREE = """
def test_checked_against_a_model_of_other_shapes(dut, reference):
    run = dut.run({model!r}, {vectors!r})
    reference.check(run, against={other!r})
"""


def test_a_board_whose_shapes_differ_fails_as_a_shape_disagreement(
    pytester: pytest.Pytester,
) -> None:
    case = shape_models.cases()["fixed_batch_1"]
    model, vectors, _ = shape_models.write(pytester.path / "data", "mlp", case)
    other = pytester.path / "data" / "wider.onnx"
    onnx.save(shape_models.mlp(1, classes=5), str(other))
    pytester.makepyfile(DISAGREE.format(model=str(model), vectors=str(vectors), other=str(other)))
    result = pytester.runpytest("--board=sim")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*board sim disagrees with the reference",
            "*wider.onnx: the board's outputs are not shaped as the reference's over 7 vectors;"
            " no value was compared",
            "*- output 'logits': the board's vectors have shape (4,), the reference's (5,)",
        ]
    )
    # The summary row says what failed: no values were compared, so no count of bad ones.
    result.stdout.fnmatch_lines(["*test_checked_against_a_model_of_other_shapes*sim*7*structure*"])
    assert "mismatching" not in result.stdout.str() and " 0 bad" not in result.stdout.str()
