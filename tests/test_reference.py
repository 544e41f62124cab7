"""Unit tests of the onnxruntime reference (reference.py) and the comparison (checking.py)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import pytest_think.reference as reference
from pytest_think.checking import CompareReport, Tolerance, accuracy, compare
from pytest_think.errors import InputFileError
from pytest_think.reference import ReferenceModel
from pytest_think.vectors import VectorSet

FEATURES = 4
CLASSES = 3


def _save(tmp_path: Path, name: str, graph: onnx.GraphProto) -> ReferenceModel:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # onnxruntime rejects newer IR versions
    onnx.checker.check_model(model)
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, str(path))
    return ReferenceModel(path)


def _classifier(tmp_path: Path) -> ReferenceModel:
    """logits = input @ W + B, with a symbolic batch dim."""
    rng = np.random.default_rng(7)
    w = rng.standard_normal((FEATURES, CLASSES)).astype(np.float32)
    b = np.array([0.1, -0.2, 0.3], dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["input", "W", "B"], ["logits"])],
        "classifier",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", FEATURES])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", CLASSES])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")],
    )
    return _save(tmp_path, "classifier", graph)


def _cast(tmp_path: Path, to: int, name: str) -> ReferenceModel:
    """q = Cast(input), a float -> integer model with a symbolic batch dim."""
    graph = helper.make_graph(
        [helper.make_node("Cast", ["input"], ["q"], to=to)],
        name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 5])],
        [helper.make_tensor_value_info("q", to, ["N", 5])],
    )
    return _save(tmp_path, name, graph)


def _relu(tmp_path: Path) -> ReferenceModel:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["input"], ["y"])],
        "relu",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 6])],
    )
    return _save(tmp_path, "relu", graph)


def _two_outputs(tmp_path: Path) -> ReferenceModel:
    """a = 2 * input, b = input + 1: two float outputs of the same shape."""
    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["input", "two"], ["a"]),
            helper.make_node("Add", ["input", "one"], ["b"]),
        ],
        "two_outputs",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3])],
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 3]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, ["N", 3]),
        ],
        [
            numpy_helper.from_array(np.array(2.0, dtype=np.float32), "two"),
            numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one"),
        ],
    )
    return _save(tmp_path, "two_outputs", graph)


def _fixed(tmp_path: Path) -> ReferenceModel:
    """y = 3 * input with a fixed input shape (4,) and no batch axis."""
    graph = helper.make_graph(
        [helper.make_node("Mul", ["input", "three"], ["y"])],
        "fixed",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
        [numpy_helper.from_array(np.array(3.0, dtype=np.float32), "three")],
    )
    return _save(tmp_path, "fixed", graph)


def _vectors(
    n: int, features: int = FEATURES, labels: np.ndarray | None = None, seed: int = 0
) -> VectorSet:
    x = np.random.default_rng(seed).standard_normal((n, features)).astype(np.float32)
    return VectorSet(Path("vectors.npz"), {"input": x}, labels)


def _expected(model: ReferenceModel, vectors: VectorSet) -> dict[str, np.ndarray]:
    """The reference outputs in one run, straight from onnxruntime."""
    names = [o.name for o in model.session.get_outputs()]
    return dict(zip(names, model.session.run(names, dict(vectors.inputs))))


@pytest.fixture
def classifier(tmp_path: Path) -> ReferenceModel:
    return _classifier(tmp_path)


# -- ReferenceModel ---------------------------------------------------------------------------


def test_signature(classifier: ReferenceModel) -> None:
    assert classifier.signature == {
        "inputs": [{"name": "input", "dtype": "float32", "shape": [None, FEATURES]}],
        "outputs": [{"name": "logits", "dtype": "float32", "shape": [None, CLASSES]}],
    }


def test_signature_integer_output(tmp_path: Path) -> None:
    model = _cast(tmp_path, TensorProto.INT8, "to_int8")
    assert model.signature["outputs"] == [{"name": "q", "dtype": "int8", "shape": [None, 5]}]


def test_missing_model_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.onnx"
    with pytest.raises(InputFileError, match="not found") as info:
        ReferenceModel(path)
    assert str(path) in str(info.value)


def test_unloadable_model_file(tmp_path: Path) -> None:
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"definitely not a protobuf")
    with pytest.raises(InputFileError, match="cannot load") as info:
        ReferenceModel(path)
    assert str(path) in str(info.value)


def test_run_chunks_covers_all_vectors_in_order(classifier: ReferenceModel) -> None:
    vectors = _vectors(20)
    chunks = list(classifier.run_chunks(vectors, chunk=6))
    assert [(a, b) for a, b, _ in chunks] == [(0, 6), (6, 12), (12, 18), (18, 20)]
    got = np.concatenate([outs["logits"] for _, _, outs in chunks])
    np.testing.assert_array_equal(got, _expected(classifier, vectors)["logits"])


def test_run_chunks_follows_module_chunk(
    classifier: ReferenceModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reference, "CHUNK", 7)
    assert len(list(classifier.run_chunks(_vectors(20)))) == 3


def test_run_chunks_unbatched_model(tmp_path: Path) -> None:
    model = _fixed(tmp_path)
    vectors = _vectors(5)
    chunks = list(model.run_chunks(vectors, chunk=2))
    got = np.concatenate([outs["y"] for _, _, outs in chunks])
    np.testing.assert_allclose(got, 3 * vectors.inputs["input"], rtol=1e-6)
    report = compare(model, vectors, {"y": got}, Tolerance())
    assert report.passed, report.summary()


# -- compare: float outputs -------------------------------------------------------------------


def test_identical_outputs_pass(classifier: ReferenceModel) -> None:
    vectors = _vectors(30)
    report = compare(classifier, vectors, _expected(classifier, vectors), Tolerance())
    assert report.passed
    assert report.problems == []
    assert report.mismatches == 0
    assert report.max_abs_err == 0.0
    assert report.max_rel_err == 0.0
    assert report.top1_agreement == 1.0
    assert report.outputs["logits"].topk_agreement == 1.0
    assert report.outputs["logits"].k == CLASSES  # topk 5 capped at the class count
    assert report.cosine_min == pytest.approx(1.0)
    assert report.worst == []
    assert report.table() == ""
    assert report.vectors == 30
    assert report.model == "classifier.onnx"
    assert report.outputs["logits"].elements == 30 * CLASSES


def test_small_perturbation_within_tolerance_passes(classifier: ReferenceModel) -> None:
    vectors = _vectors(30)
    exp = _expected(classifier, vectors)["logits"].astype(np.float64)
    got = (exp * (1 + 5e-4) + 5e-8).astype(np.float32)  # inside atol + rtol * |expected|
    report = compare(classifier, vectors, {"logits": got}, Tolerance(rtol=1e-3, atol=1e-7))
    assert report.passed, report.summary()
    assert report.mismatches == 0
    assert 0 < report.max_rel_err < 1e-3
    assert report.max_abs_err > 0


def test_perturbation_beyond_tolerance_counts_exactly(classifier: ReferenceModel) -> None:
    vectors = _vectors(30)
    exp = _expected(classifier, vectors)["logits"]
    got = exp.copy()
    hits = [(0, 0), (3, 2), (17, 1), (29, 2), (29, 0)]
    for v, j in hits:
        got[v, j] = exp[v, j] * 1.01 + 0.01  # beyond rtol 1e-3
    got[5, 1] = exp[5, 1] * (1 + 1e-4)  # inside tolerance, not counted
    report = compare(classifier, vectors, {"logits": got}, Tolerance())
    assert not report.passed
    assert report.mismatches == len(hits)
    assert report.outputs["logits"].mismatches == len(hits)
    assert report.problems == [
        f"output 'logits': {len(hits)} of {30 * CLASSES} elements outside tolerance"
    ]
    assert sorted((m.vector, m.position) for m in report.worst) == sorted(
        (v, (j,)) for v, j in hits
    )


def test_tolerance_boundary_is_inclusive(tmp_path: Path) -> None:
    model = _relu(tmp_path)
    x = np.full((2, 6), 4.0, dtype=np.float32)
    vectors = VectorSet(Path("v.npz"), {"input": x}, None)
    got = np.full((2, 6), 4.5, dtype=np.float32)
    assert compare(model, vectors, {"y": got}, Tolerance(rtol=0.0, atol=0.5)).passed
    report = compare(model, vectors, {"y": got}, Tolerance(rtol=0.0, atol=0.49))
    assert report.mismatches == 12


def test_worst_table_largest_first_and_capped(classifier: ReferenceModel) -> None:
    vectors = _vectors(40)
    exp = _expected(classifier, vectors)["logits"]
    got = exp.copy()
    errors = {(2, 1): 0.5, (9, 0): 3.0, (9, 2): 1.5, (21, 1): 2.5, (33, 0): 0.25, (39, 2): 4.0}
    for (v, j), err in errors.items():
        got[v, j] += np.float32(err)
    report = compare(classifier, vectors, {"logits": got}, Tolerance(), worst_n=4)
    assert report.mismatches == len(errors)
    assert len(report.worst) == 4
    top = sorted(errors.items(), key=lambda kv: -kv[1])[:4]
    assert [(m.vector, m.position) for m in report.worst] == [(v, (j,)) for (v, j), _ in top]
    for m, ((v, j), err) in zip(report.worst, top):
        assert m.output == "logits"
        assert m.got == float(got[v, j])
        assert m.expected == float(exp[v, j])
        assert m.error == pytest.approx(err, rel=1e-5)
    assert [m.error for m in report.worst] == sorted((m.error for m in report.worst), reverse=True)
    lines = report.table().splitlines()
    assert len(lines) == 1 + 4
    assert lines[0].split() == ["vector", "output", "position", "got", "expected", "error"]
    assert lines[1].split()[:3] == ["39", "logits", "[2]"]
    assert lines[2].split()[:3] == ["9", "logits", "[0]"]


def test_worst_table_across_outputs(tmp_path: Path) -> None:
    model = _two_outputs(tmp_path)
    vectors = _vectors(10, features=3)
    exp = _expected(model, vectors)
    got = {k: v.copy() for k, v in exp.items()}
    got["a"][4, 0] += 2.0
    got["b"][7, 2] += 5.0
    got["b"][1, 1] += 1.0
    report = compare(model, vectors, got, Tolerance(), worst_n=2)
    assert report.mismatches == 3
    assert report.outputs["a"].mismatches == 1
    assert report.outputs["b"].mismatches == 2
    assert [(m.output, m.vector, m.position) for m in report.worst] == [
        ("b", 7, (2,)),
        ("a", 4, (0,)),
    ]
    assert len(report.problems) == 2


def test_nan_in_board_output_is_a_mismatch(classifier: ReferenceModel) -> None:
    vectors = _vectors(12)
    got = _expected(classifier, vectors)["logits"].copy()
    got[4, 1] = np.nan
    report = compare(classifier, vectors, {"logits": got}, Tolerance(rtol=1.0, atol=1.0))
    assert not report.passed
    assert report.mismatches == 1
    assert [(m.vector, m.position) for m in report.worst] == [(4, (1,))]
    assert math.isnan(report.worst[0].got)


def test_nan_fails_min_cosine(classifier: ReferenceModel) -> None:
    vectors = _vectors(12)
    got = _expected(classifier, vectors)["logits"].copy()
    got[10, 0] = np.nan
    report = compare(classifier, vectors, {"logits": got}, Tolerance(min_cosine=0.5))
    assert report.cosine_min is not None and math.isnan(report.cosine_min)
    assert any("cosine" in p for p in report.problems)


def test_nan_ranks_worst_and_does_not_hide_larger_errors(classifier: ReferenceModel) -> None:
    vectors = _vectors(20)
    exp = _expected(classifier, vectors)["logits"]
    got = exp.copy()
    got[0, 0] = np.nan  # first, so it would sit at the root of the worst-N heap
    got[5, 1] += np.float32(0.5)
    got[9, 2] += np.float32(5.0)
    got[15, 0] += np.float32(4.0)
    got[19, 1] += np.float32(0.25)
    report = compare(classifier, vectors, {"logits": got}, Tolerance(), worst_n=3)
    assert report.mismatches == 5
    assert [(m.vector, m.position) for m in report.worst] == [(0, (0,)), (9, (2,)), (15, (0,))]
    assert report.worst[0].error == math.inf
    assert math.isnan(report.worst[0].got)
    assert report.table().splitlines()[1].split()[3:] == ["nan", f"{exp[0, 0]:.6g}", "inf"]


def test_nan_makes_max_errors_nan_not_zero(classifier: ReferenceModel) -> None:
    vectors = _vectors(10)
    got = _expected(classifier, vectors)["logits"].copy()
    got[1, 1] += np.float32(3.0)
    got[2, 2] = np.nan
    report = compare(classifier, vectors, {"logits": got}, Tolerance())
    assert math.isnan(report.max_abs_err)
    assert math.isnan(report.max_rel_err)
    assert report.mismatches == 2


def test_inf_in_board_output_is_a_mismatch(classifier: ReferenceModel) -> None:
    vectors = _vectors(8)
    got = _expected(classifier, vectors)["logits"].copy()
    got[2, 2] = np.inf
    report = compare(classifier, vectors, {"logits": got}, Tolerance(rtol=1.0, atol=1.0))
    assert report.mismatches == 1
    assert not report.passed


def test_max_rel_err_ignores_reference_near_zero(tmp_path: Path) -> None:
    model = _relu(tmp_path)
    x = np.array([[-1.0, -2.0, 1.0, 2.0, 4.0, -3.0]] * 3, dtype=np.float32)
    vectors = VectorSet(Path("v.npz"), {"input": x}, None)
    exp = _expected(model, vectors)["y"]
    got = exp.copy()
    got[:, 0] = 1e-8  # reference exactly 0: within atol, no relative error from it
    got[0, 4] = 4.002  # 5e-4 relative
    tol = Tolerance(rtol=1e-3, atol=1e-7)
    report = compare(model, vectors, {"y": got}, tol)
    assert report.passed, report.summary()
    assert report.max_rel_err == pytest.approx(5e-4, rel=1e-3)
    assert report.max_abs_err == pytest.approx(2e-3, rel=1e-3)
    assert math.isfinite(report.max_rel_err)


def test_max_rel_err_counts_reference_just_above_atol(tmp_path: Path) -> None:
    model = _relu(tmp_path)
    x = np.array([[1e-3, 0, 0, 0, 0, 0]], dtype=np.float32)
    vectors = VectorSet(Path("v.npz"), {"input": x}, None)
    got = np.array([[1.5e-3, 0, 0, 0, 0, 0]], dtype=np.float32)
    report = compare(model, vectors, {"y": got}, Tolerance(rtol=1e-3, atol=1e-4))
    assert report.max_rel_err == pytest.approx(0.5, rel=1e-4)
    assert report.mismatches == 1


# -- compare: structure problems --------------------------------------------------------------


def test_wrong_output_names(classifier: ReferenceModel) -> None:
    vectors = _vectors(4)
    logits = _expected(classifier, vectors)["logits"]
    report = compare(classifier, vectors, {"scores": logits}, Tolerance())
    assert not report.passed
    assert report.problems == ["board returned outputs ['scores'], reference has ['logits']"]
    assert report.outputs == {}
    assert report.worst == []


def test_extra_output_name(classifier: ReferenceModel) -> None:
    vectors = _vectors(4)
    logits = _expected(classifier, vectors)["logits"]
    report = compare(classifier, vectors, {"logits": logits, "extra": logits}, Tolerance())
    assert not report.passed
    assert "'extra'" in report.problems[0]


def test_wrong_output_dtype(classifier: ReferenceModel) -> None:
    vectors = _vectors(4)
    logits = _expected(classifier, vectors)["logits"].astype(np.float16)
    report = compare(classifier, vectors, {"logits": logits}, Tolerance())
    assert not report.passed
    assert report.problems == ["output 'logits' is float16, reference is float32"]


def test_wrong_per_vector_shape(classifier: ReferenceModel) -> None:
    vectors = _vectors(4)
    logits = _expected(classifier, vectors)["logits"]
    report = compare(classifier, vectors, {"logits": logits[:, :2]}, Tolerance())
    assert not report.passed
    assert len(report.problems) == 1
    assert report.problems[0] == (
        "output 'logits': the board's vectors have shape (2,), the reference's (3,)"
    )
    assert "mismatching" not in report.summary()
    report = compare(classifier, vectors, {"logits": logits[:, :, None]}, Tolerance())
    assert not report.passed
    assert "the board's vectors have shape (3, 1)" in report.problems[0]


@pytest.mark.parametrize("rows", [0, 1, 3, 5])
def test_wrong_vector_count(classifier: ReferenceModel, rows: int) -> None:
    vectors = _vectors(4)
    logits = _expected(classifier, vectors)["logits"]
    board = np.resize(logits, (rows, CLASSES)).astype(np.float32)
    report = compare(classifier, vectors, {"logits": board}, Tolerance())
    assert not report.passed
    assert report.problems == [f"output 'logits' has {rows} vectors, expected 4"]


# -- compare: integer outputs -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("to", "dtype"), [(TensorProto.INT8, np.int8), (TensorProto.INT32, np.int32)]
)
def test_integer_outputs_exact_by_default(tmp_path: Path, to: int, dtype: type) -> None:
    model = _cast(tmp_path, to, f"to_{np.dtype(dtype).name}")
    x = np.random.default_rng(1).integers(-100, 100, size=(9, 5)).astype(np.float32)
    vectors = VectorSet(Path("v.npz"), {"input": x}, None)
    exp = _expected(model, vectors)["q"]
    assert exp.dtype == dtype
    assert compare(model, vectors, {"q": exp.copy()}, Tolerance()).passed
    got = exp.copy()
    got[0, 0] += 1
    got[4, 3] -= 1
    got[8, 4] += 2
    report = compare(model, vectors, {"q": got}, Tolerance())
    assert report.mismatches == 3
    assert report.problems == ["output 'q': 3 of 45 elements differ by more than 0 LSB"]
    report = compare(model, vectors, {"q": got}, Tolerance(lsb=1))
    assert report.mismatches == 1
    assert [(m.vector, m.position, m.error) for m in report.worst] == [(8, (4,), 2.0)]
    assert "more than 1 LSB" in report.problems[0]
    assert compare(model, vectors, {"q": got}, Tolerance(lsb=2)).passed


def test_integer_outputs_ignore_rtol_and_have_no_cosine(tmp_path: Path) -> None:
    model = _cast(tmp_path, TensorProto.INT32, "to_int32")
    x = np.full((3, 5), 1000.0, dtype=np.float32)
    vectors = VectorSet(Path("v.npz"), {"input": x}, None)
    got = _expected(model, vectors)["q"] + 1
    report = compare(model, vectors, {"q": got}, Tolerance(rtol=0.5, atol=10.0))
    assert report.mismatches == 15
    assert report.cosine_min is None
    assert report.top1_agreement is None


def test_int8_extremes_do_not_wrap(tmp_path: Path) -> None:
    model = _cast(tmp_path, TensorProto.INT8, "to_int8")
    x = np.full((1, 5), 127.0, dtype=np.float32)
    vectors = VectorSet(Path("v.npz"), {"input": x}, None)
    got = np.full((1, 5), 127, dtype=np.int8)
    got[0, 2] = -128
    report = compare(model, vectors, {"q": got}, Tolerance(lsb=1))
    assert report.mismatches == 1
    assert report.worst[0].error == 255.0
    assert (report.worst[0].got, report.worst[0].expected) == (-128.0, 127.0)


# -- compare: classifier thresholds and accuracy ----------------------------------------------


def _swap_top1(exp: np.ndarray, rows: list[int]) -> np.ndarray:
    """A copy of `exp` where the given rows have their best class changed."""
    got = exp.copy()
    for r in rows:
        order = np.argsort(exp[r])
        got[r, order[-1]], got[r, order[0]] = exp[r, order[0]], exp[r, order[-1]]
    return got


def _promote(exp: np.ndarray, rows: list[int]) -> np.ndarray:
    """A copy of `exp` where each given row's worst class becomes its best, by distinct margins."""
    got = exp.copy()
    for i, r in enumerate(rows):
        got[r, exp[r].argmin()] = exp[r].max() + np.float32(0.1 * (i + 1))
    return got


def test_min_top1_agreement(classifier: ReferenceModel) -> None:
    vectors = _vectors(20)
    exp = _expected(classifier, vectors)["logits"]
    got = _swap_top1(exp, [1, 5, 9, 13])
    loose = {"rtol": 1e6, "atol": 1e6}
    report = compare(classifier, vectors, {"logits": got}, Tolerance(**loose))
    assert report.passed  # no threshold: only reported
    assert report.top1_agreement == pytest.approx(0.8)
    report = compare(
        classifier, vectors, {"logits": got}, Tolerance(**loose, min_top1_agreement=0.9)
    )
    assert not report.passed
    assert report.problems == ["output 'logits': top-1 agreement 0.8000 < 0.9"]
    ok = compare(classifier, vectors, {"logits": got}, Tolerance(**loose, min_top1_agreement=0.8))
    assert ok.passed


def test_topk_agreement(classifier: ReferenceModel) -> None:
    vectors = _vectors(10)
    exp = _expected(classifier, vectors)["logits"]
    got = _swap_top1(exp, [0, 1])  # reference best is now the device's worst
    report = compare(classifier, vectors, {"logits": got}, Tolerance(rtol=1e6, topk=2))
    stats = report.outputs["logits"]
    assert stats.k == 2
    assert stats.top1_agreement == pytest.approx(0.8)
    assert stats.topk_agreement == pytest.approx(0.8)
    report = compare(classifier, vectors, {"logits": got}, Tolerance(rtol=1e6, topk=3))
    assert report.outputs["logits"].topk_agreement == 1.0


def test_min_cosine(classifier: ReferenceModel) -> None:
    vectors = _vectors(10)
    exp = _expected(classifier, vectors)["logits"]
    got = exp.copy()
    got[6] = -exp[6]
    loose = {"rtol": 1e6, "atol": 1e6}
    report = compare(classifier, vectors, {"logits": got}, Tolerance(**loose, min_cosine=0.99))
    assert report.cosine_min == pytest.approx(-1.0)
    assert not report.passed
    assert len(report.problems) == 1 and "min cosine similarity" in report.problems[0]
    report = compare(classifier, vectors, {"logits": exp}, Tolerance(min_cosine=0.999999))
    assert report.passed


def test_zero_vectors_cosine(tmp_path: Path) -> None:
    model = _relu(tmp_path)
    x = -np.ones((2, 6), dtype=np.float32)  # reference all zeros
    vectors = VectorSet(Path("v.npz"), {"input": x}, None)
    zeros = np.zeros((2, 6), dtype=np.float32)
    assert compare(model, vectors, {"y": zeros}, Tolerance()).cosine_min == 1.0
    got = zeros.copy()
    got[1, 3] = 1.0
    report = compare(model, vectors, {"y": got}, Tolerance(rtol=1e6, atol=1e6))
    assert report.cosine_min == 0.0


def test_accuracy_against_labels(classifier: ReferenceModel) -> None:
    vectors = _vectors(20)
    exp = _expected(classifier, vectors)["logits"]
    ref_top1 = exp.argmax(axis=1)
    labels = ref_top1.copy()
    labels[[0, 1, 2, 3, 4]] = (labels[[0, 1, 2, 3, 4]] + 1) % CLASSES  # reference wrong on 5
    vectors.labels = labels
    got = _swap_top1(exp, [10, 11])  # device also wrong on 2 more
    report = compare(classifier, vectors, {"logits": got}, Tolerance(rtol=1e6, atol=1e6))
    assert report.accuracy == {
        "device": pytest.approx(13 / 20),
        "reference": pytest.approx(15 / 20),
    }
    assert report.accuracy["reference"] == pytest.approx(accuracy(exp, labels))
    assert report.accuracy["device"] == pytest.approx(accuracy(got, labels))


def test_no_labels_no_accuracy(classifier: ReferenceModel) -> None:
    vectors = _vectors(5)
    report = compare(classifier, vectors, _expected(classifier, vectors), Tolerance())
    assert report.accuracy == {}
    assert report.outputs["logits"].device_accuracy is None


def _two_exits(tmp_path: Path) -> ReferenceModel:
    """exit1 and exit2, two classifiers of the same input (an early-exit network's exits),
    and `norm`, one value per vector (not class scores)."""
    rng = np.random.default_rng(11)
    w1, w2 = (rng.standard_normal((FEATURES, CLASSES)).astype(np.float32) for _ in range(2))
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["input", "W1"], ["exit1"]),
            helper.make_node("MatMul", ["input", "W2"], ["exit2"]),
            helper.make_node("ReduceSumSquare", ["input"], ["norm"], axes=[1], keepdims=1),
        ],
        "two_exits",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", FEATURES])],
        [
            helper.make_tensor_value_info("exit1", TensorProto.FLOAT, ["N", CLASSES]),
            helper.make_tensor_value_info("exit2", TensorProto.FLOAT, ["N", CLASSES]),
            helper.make_tensor_value_info("norm", TensorProto.FLOAT, ["N", 1]),
        ],
        [numpy_helper.from_array(w1, "W1"), numpy_helper.from_array(w2, "W2")],
    )
    return _save(tmp_path, "two_exits", graph)


def test_accuracy_of_the_named_scores_output(tmp_path: Path) -> None:
    model = _two_exits(tmp_path)
    vectors = _vectors(40)
    exp = _expected(model, vectors)
    vectors.labels = exp["exit2"].argmax(axis=1)  # exit 2 is always right, exit 1 is not
    first = accuracy(exp["exit1"], vectors.labels)
    assert first < 1.0
    by_default = compare(model, vectors, exp, Tolerance())
    assert by_default.accuracy == {"device": first, "reference": first}
    last = compare(model, vectors, exp, Tolerance(), scores="exit2")
    assert last.accuracy == {"device": 1.0, "reference": 1.0}
    assert last.outputs["exit1"].device_accuracy == first  # every exit's is still there


def test_scores_output_unknown_or_not_class_scores(tmp_path: Path) -> None:
    model = _two_exits(tmp_path)
    vectors = _vectors(4, labels=np.zeros(4, dtype=np.int64))
    exp = _expected(model, vectors)
    with pytest.raises(InputFileError) as unknown:
        compare(model, vectors, exp, Tolerance(), scores="exit3")
    assert str(unknown.value) == (
        f"model {model.path}: no output 'exit3' to take the accuracy from (scores=); "
        "its outputs are exit1, exit2, norm"
    )
    with pytest.raises(InputFileError) as not_scores:
        compare(model, vectors, exp, Tolerance(), scores="norm")
    assert str(not_scores.value) == (
        f"model {model.path}: output 'norm' (per-vector shape (1,), float32) is not class "
        "scores, one float row per vector (scores=)"
    )


def test_accuracy_function() -> None:
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    assert accuracy(scores, np.array([1, 0, 0, 0])) == 0.75
    with pytest.raises(ValueError, match="one row of class scores"):
        accuracy(np.array([0.1, 0.9]), np.array([1]))


# -- chunking ---------------------------------------------------------------------------------


def _chunked_and_whole(
    model: ReferenceModel,
    vectors: VectorSet,
    outputs: dict[str, np.ndarray],
    tolerance: Tolerance,
    monkeypatch: pytest.MonkeyPatch,
    worst_n: int = 5,
) -> tuple[CompareReport, CompareReport]:
    whole = compare(model, vectors, outputs, tolerance, worst_n=worst_n)
    with monkeypatch.context() as m:
        m.setattr(reference, "CHUNK", 7)
        assert len(list(model.run_chunks(vectors))) == math.ceil(vectors.count / 7)
        chunked = compare(model, vectors, outputs, tolerance, worst_n=worst_n)
    return whole, chunked


def _same(a: CompareReport, b: CompareReport) -> None:
    ja, jb = a.as_json(), b.as_json()
    for report in (ja, jb):
        for stats in report["outputs"].values():
            for key in ("cosine_min", "max_abs_err", "max_rel_err"):
                if stats[key] is not None and math.isnan(stats[key]):
                    stats[key] = "nan"
        for key in ("cosine_min", "max_abs_err", "max_rel_err"):
            if report[key] is not None and math.isnan(report[key]):
                report[key] = "nan"
    assert ja == jb
    assert [(m.output, m.vector, m.position, m.error) for m in a.worst] == [
        (m.output, m.vector, m.position, m.error) for m in b.worst
    ]
    assert a.summary() == b.summary()


def test_chunked_comparison_matches_one_chunk(
    classifier: ReferenceModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 50
    vectors = _vectors(n, labels=np.arange(n) % CLASSES, seed=3)
    exp = _expected(classifier, vectors)["logits"]
    got = _promote(exp, [2, 8, 15, 30, 44])
    rng = np.random.default_rng(5)
    for i, v in enumerate(rng.choice(n, size=12, replace=False)):
        got[v, i % CLASSES] += np.float32(0.01 * (i + 1))  # distinct errors, across chunks
    whole, chunked = _chunked_and_whole(
        classifier, vectors, {"logits": got}, Tolerance(min_top1_agreement=0.95), monkeypatch
    )
    assert not whole.passed
    assert whole.mismatches > 12
    assert len(whole.worst) == 5
    assert whole.accuracy and whole.outputs["logits"].topk_agreement is not None
    _same(whole, chunked)


def test_chunked_comparison_matches_with_nan(
    classifier: ReferenceModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    vectors = _vectors(30, seed=4)
    exp = _expected(classifier, vectors)["logits"]
    got = exp.copy()
    got[3, 0] += 2.0  # first chunk of 7
    got[20, 1] = np.nan  # a later chunk
    got[22, 2] += 3.0
    whole, chunked = _chunked_and_whole(
        classifier, vectors, {"logits": got}, Tolerance(min_cosine=0.5), monkeypatch
    )
    assert whole.mismatches == 3
    assert any("cosine" in p for p in whole.problems)
    assert any("cosine" in p for p in chunked.problems)
    _same(whole, chunked)


def test_chunked_integer_comparison(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _cast(tmp_path, TensorProto.INT8, "to_int8")
    x = np.random.default_rng(2).integers(-50, 50, size=(25, 5)).astype(np.float32)
    vectors = VectorSet(Path("v.npz"), {"input": x}, None)
    got = _expected(model, vectors)["q"].copy()
    for v, j, d in [(0, 0, 1), (6, 4, 3), (7, 1, -2), (24, 2, 4), (13, 3, 1)]:
        got[v, j] += d
    whole, chunked = _chunked_and_whole(model, vectors, {"q": got}, Tolerance(lsb=1), monkeypatch)
    assert whole.mismatches == 3
    _same(whole, chunked)


# -- report text ------------------------------------------------------------------------------


def test_summary_and_table_are_short(classifier: ReferenceModel) -> None:
    n, worst_n = 200, 6
    vectors = _vectors(n)
    got = _expected(classifier, vectors)["logits"] + np.float32(1.0)  # every element wrong
    report = compare(classifier, vectors, {"logits": got}, Tolerance(), worst_n=worst_n)
    assert report.mismatches == n * CLASSES
    assert len(report.worst) == worst_n
    assert len(report.table().splitlines()) == worst_n + 1
    summary = report.summary()
    assert len(summary.splitlines()) <= worst_n + 5
    assert summary.splitlines()[0].startswith("classifier.onnx: 600 mismatching elements")
    assert f"worst {worst_n} mismatches:" in summary
    assert "600 of 600 elements outside tolerance" in summary


def test_summary_of_a_pass(classifier: ReferenceModel) -> None:
    vectors = _vectors(5)
    report = compare(classifier, vectors, _expected(classifier, vectors), Tolerance())
    summary = report.summary()
    assert len(summary.splitlines()) == 1
    assert "0 mismatching elements over 5 vectors" in summary
    assert "top-1 agreement 1.0000" in summary


def test_as_json(classifier: ReferenceModel) -> None:
    vectors = _vectors(5)
    report = compare(classifier, vectors, _expected(classifier, vectors), Tolerance(rtol=0.01))
    data: dict[str, Any] = report.as_json()
    assert data["passed"] is True
    assert data["rtol"] == 0.01
    assert data["outputs"]["logits"]["elements"] == 5 * CLASSES
    assert data["outputs"]["logits"]["dtype"] == "float32"
