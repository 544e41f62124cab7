"""Models of every batch-axis and dtype layout a lab brings, built with onnx.helper, and the
architecture models shipped in the onnx wheel (`onnx/backend/test/data/light/`, constant
weights), each with vectors and the outputs expected of them.

The expected outputs are computed here one vector at a time with feeds built by hand for each
model (the batch axis of 1 added where the model has one), not by the code under test."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
VECTORS = 7  # with device_batch 3: a short last call


@dataclass
class Case:
    """A model, its vectors (as stored in the file), how one vector is fed to the model, and
    the per-vector output shapes a run must give."""

    model: onnx.ModelProto | Path
    vectors: dict[str, np.ndarray]
    feed: Callable[[dict[str, np.ndarray], int], dict[str, np.ndarray]]
    outputs: dict[str, tuple[int, ...]]
    labels: bool = False
    free: bool = False  # a device call may hold several vectors (a symbolic batch throughout)


def _model(
    nodes: list[onnx.NodeProto],
    ins: list[onnx.ValueInfoProto],
    outs: list[onnx.ValueInfoProto],
    inits: list[onnx.TensorProto],
) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "shapes", ins, outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _vi(name: str, dtype: int, shape: list[int | str]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, dtype, shape)


def _const(name: str, value: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(value, name)


RNG = np.random.default_rng(15)
W = RNG.standard_normal((16, 4)).astype(np.float32)
B = RNG.standard_normal(4).astype(np.float32)
X16 = RNG.standard_normal((VECTORS, 16)).astype(np.float32)


def mlp(batch: int | str | None, classes: int = 4) -> onnx.ModelProto:
    """logits = x @ W + B, 16 features, with a batch axis `batch` (None: no batch axis)."""
    lead = [] if batch is None else [batch]
    w = W if classes == 4 else RNG.standard_normal((16, classes)).astype(np.float32)
    b = B if classes == 4 else RNG.standard_normal(classes).astype(np.float32)
    return _model(
        [
            helper.make_node("MatMul", ["x", "W"], ["h"]),
            helper.make_node("Add", ["h", "B"], ["logits"]),
        ],
        [_vi("x", TensorProto.FLOAT, [*lead, 16])],
        [_vi("logits", TensorProto.FLOAT, [*lead, classes])],
        [_const("W", w), _const("B", b)],
    )


def _with_batch(vectors: dict[str, np.ndarray], i: int) -> dict[str, np.ndarray]:
    return {k: v[i][None, ...] for k, v in vectors.items()}


def _alone(vectors: dict[str, np.ndarray], i: int) -> dict[str, np.ndarray]:
    return {k: v[i, ...] for k, v in vectors.items()}


def _stored(vectors: dict[str, np.ndarray], i: int) -> dict[str, np.ndarray]:
    return {k: v[i] for k, v in vectors.items()}  # the file already holds the batch axis


def _tokens() -> Case:
    """int64 token ids and a float mask: pooled embeddings (float) and a length (int64, a
    scalar per vector)."""
    table = RNG.standard_normal((32, 4)).astype(np.float32)
    nodes = [
        helper.make_node("Gather", ["table", "ids"], ["emb"]),  # [1, 8, 4]
        helper.make_node("Unsqueeze", ["mask", "axis2"], ["m"]),  # [1, 8, 1]
        helper.make_node("Mul", ["emb", "m"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["pooled"], keepdims=0),  # [1, 4]
        helper.make_node("ReduceSum", ["mask", "axis1"], ["n"], keepdims=0),  # [1]
        helper.make_node("Cast", ["n"], ["length"], to=TensorProto.INT64),
    ]
    model = _model(
        nodes,
        [_vi("ids", TensorProto.INT64, [1, 8]), _vi("mask", TensorProto.FLOAT, [1, 8])],
        [_vi("pooled", TensorProto.FLOAT, [1, 4]), _vi("length", TensorProto.INT64, [1])],
        [
            _const("table", table),
            _const("axis1", np.array([1], np.int64)),
            _const("axis2", np.array([2], np.int64)),
        ],
    )
    ids = RNG.integers(0, 32, (VECTORS, 8)).astype(np.int64)
    mask = (RNG.random((VECTORS, 8)) > 0.3).astype(np.float32)
    return Case(model, {"ids": ids, "mask": mask}, _with_batch, {"pooled": (4,), "length": ()})


def _nhwc_uint8() -> Case:
    """A uint8 NHWC image: per-channel means (float), the image's dtype not the output's."""
    model = _model(
        [
            helper.make_node("Cast", ["image"], ["f"], to=TensorProto.FLOAT),
            helper.make_node("ReduceMean", ["f"], ["means"], axes=[1, 2], keepdims=0),
        ],
        [_vi("image", TensorProto.UINT8, [1, 8, 8, 3])],
        [_vi("means", TensorProto.FLOAT, [1, 3])],
        [],
    )
    image = RNG.integers(0, 256, (VECTORS, 8, 8, 3)).astype(np.uint8)
    return Case(model, {"image": image}, _with_batch, {"means": (3,)}, labels=True)


def _nchw_int8() -> Case:
    """An int8 NCHW image: its global average pool (rank-4 output) and the image (int8)."""
    model = _model(
        [
            helper.make_node("Cast", ["image"], ["f"], to=TensorProto.FLOAT),
            helper.make_node("GlobalAveragePool", ["f"], ["pool"]),
            helper.make_node("Identity", ["image"], ["same"]),
        ],
        [_vi("image", TensorProto.INT8, [1, 3, 8, 8])],
        [_vi("pool", TensorProto.FLOAT, [1, 3, 1, 1]), _vi("same", TensorProto.INT8, [1, 3, 8, 8])],
        [],
    )
    image = RNG.integers(-128, 128, (VECTORS, 3, 8, 8)).astype(np.int8)
    return Case(model, {"image": image}, _with_batch, {"pool": (3, 1, 1), "same": (3, 8, 8)}, True)


def _ranks() -> Case:
    """Outputs of rank 0 to 4 from a fixed batch of 1: a scalar over the whole call, and the
    batch axis kept with 0 to 3 dimensions after it."""
    axes = _const("a12", np.array([1, 2], np.int64)), _const("a2", np.array([2], np.int64))
    model = _model(
        [
            helper.make_node("ReduceSum", ["x", "empty"], ["r0"], keepdims=0),
            helper.make_node("ReduceSum", ["x", "a12"], ["r1"], keepdims=0),
            helper.make_node("ReduceSum", ["x", "a2"], ["r2"], keepdims=0),
            helper.make_node("Relu", ["x"], ["r3"]),
            helper.make_node("Unsqueeze", ["x", "a3"], ["r4"]),
        ],
        [_vi("x", TensorProto.FLOAT, [1, 2, 3])],
        [
            _vi("r0", TensorProto.FLOAT, []),
            _vi("r1", TensorProto.FLOAT, [1]),
            _vi("r2", TensorProto.FLOAT, [1, 2]),
            _vi("r3", TensorProto.FLOAT, [1, 2, 3]),
            _vi("r4", TensorProto.FLOAT, [1, 2, 3, 1]),
        ],
        [*axes, _const("a3", np.array([3], np.int64)), _const("empty", np.array([], np.int64))],
    )
    x = RNG.standard_normal((VECTORS, 2, 3)).astype(np.float32)
    shapes = {"r0": (), "r1": (), "r2": (2,), "r3": (2, 3), "r4": (2, 3, 1)}
    return Case(model, {"x": x}, _with_batch, shapes)


def _symbolic_with_reduction() -> Case:
    """A symbolic batch and an output reduced over everything: a call may hold one vector only,
    or its scalar would mix vectors."""
    model = _model(
        [
            helper.make_node("Relu", ["x"], ["y"]),
            helper.make_node("ReduceSum", ["x", "empty"], ["total"], keepdims=0),
        ],
        [_vi("x", TensorProto.FLOAT, ["N", 4])],
        [_vi("y", TensorProto.FLOAT, ["N", 4]), _vi("total", TensorProto.FLOAT, [])],
        [_const("empty", np.array([], np.int64))],
    )
    x = RNG.standard_normal((VECTORS, 4)).astype(np.float32)
    return Case(model, {"x": x}, _with_batch, {"y": (4,), "total": ()})


def _batch_and_scalar() -> Case:
    """An input with a batch axis of 1 beside a scalar one (a temperature): each vector is a
    row and a scalar, fed as a batch of one and a bare scalar."""
    model = _model(
        [helper.make_node("Mul", ["x", "scale"], ["y"])],
        [_vi("x", TensorProto.FLOAT, [1, 4]), _vi("scale", TensorProto.FLOAT, [])],
        [_vi("y", TensorProto.FLOAT, [1, 4])],
        [],
    )
    x = RNG.standard_normal((VECTORS, 4)).astype(np.float32)
    scale = RNG.standard_normal(VECTORS).astype(np.float32)

    def feed(vectors: dict[str, np.ndarray], i: int) -> dict[str, np.ndarray]:
        return {"x": vectors["x"][i][None, ...], "scale": vectors["scale"][i, ...]}

    return Case(model, {"x": x, "scale": scale}, feed, {"y": (4,)})


def _light(name: str, outputs: dict[str, tuple[int, ...]]) -> Case:
    path = LIGHT / f"{name}.onnx"
    (inp,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_inputs()
    x = RNG.random((3, 3, 224, 224), dtype=np.float32)
    return Case(path, {inp.name: x}, _with_batch, outputs, labels=True)


def cases() -> dict[str, Case]:
    return {
        "fixed_batch_1": Case(mlp(1), {"x": X16}, _with_batch, {"logits": (4,)}, labels=True),
        "fixed_batch_1_stored_with_it": Case(
            mlp(1), {"x": X16[:, None, :]}, _stored, {"logits": (4,)}, labels=True
        ),
        "symbolic_batch": Case(mlp("N"), {"x": X16}, _with_batch, {"logits": (4,)}, True, True),
        "no_batch_axis": Case(mlp(None), {"x": X16}, _alone, {"logits": (4,)}, labels=True),
        "tokens_int64_and_float_mask": _tokens(),
        "nhwc_uint8": _nhwc_uint8(),
        "nchw_int8": _nchw_int8(),
        "outputs_of_rank_0_to_4": _ranks(),
        "symbolic_batch_with_a_reduction": _symbolic_with_reduction(),
        "batch_axis_beside_a_scalar_input": _batch_and_scalar(),
        "light_shufflenet": _light("light_shufflenet", {"gpu_0/softmax_1": (1000,)}),
        "light_squeezenet": _light("light_squeezenet", {"softmaxout_1": (1000, 1, 1)}),
    }


def write(directory: Path, name: str, case: Case) -> tuple[Path, Path, Path]:
    """The model file, the vector file (with labels when the case has class scores) and the
    expected outputs (.npz, one array per output, vector axis first)."""
    directory.mkdir(parents=True, exist_ok=True)
    if isinstance(case.model, Path):
        model = case.model
    else:
        model = directory / f"{name}.onnx"
        onnx.save(case.model, str(model))
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    count = len(next(iter(case.vectors.values())))
    rows = [session.run(names, case.feed(case.vectors, i)) for i in range(count)]
    expected: dict[str, np.ndarray] = {}
    for k, out in enumerate(names):
        per_vector = case.outputs[out]
        # Each call's output is one vector's, with the model's batch axis of 1 where it has one.
        expected[out] = np.stack([np.asarray(r[k]).reshape(per_vector) for r in rows])
    arrays: dict[str, Any] = dict(case.vectors)
    if case.labels:
        arrays["labels"] = np.arange(count) % 3
    vectors = directory / f"{name}.npz"
    np.savez(vectors, **arrays)
    outputs = directory / f"{name}.expected.npz"
    stored: dict[str, Any] = {n.replace("/", "|"): a for n, a in expected.items()}
    np.savez(outputs, **stored)
    return model, vectors, outputs
