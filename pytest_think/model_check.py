"""A model file checked on the host before anything is sent to a board.

`inspect_model` parses an ONNX file (its external data left where it is) and says, in one
line, what would make the board refuse it after the upload: a file that is not an ONNX
model, or one whose external data files are missing or short. `check_runtime` holds the
model's IR version and opsets against what the board's onnxruntime can run (the version its
agent's HELLO names, `ONNXRUNTIME_LIMITS`). `ModelFacts.signature` is the model's inputs and
outputs in the form of the agent's READY, so vectors are checked against it before upload.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_think.errors import InputFileError, UnsupportedModel

if TYPE_CHECKING:
    import onnx

# onnx is imported on first use (a model checked): it takes longer to import than the rest of
# a session's start.

__all__ = [
    "ONNXRUNTIME_LIMITS",
    "ModelFacts",
    "RuntimeLimits",
    "check_runtime",
    "inspect_model",
    "onnxruntime_limits",
]

ONNX_DOMAINS = ("", "ai.onnx")
ML_DOMAIN = "ai.onnx.ml"


@dataclass(frozen=True)
class RuntimeLimits:
    """The newest IR version and opsets an onnxruntime release implements."""

    release: str  # the table's row: "1.16"
    ir_version: int
    opset: int  # ai.onnx
    ml_opset: int  # ai.onnx.ml


# onnxruntime release (major, minor) -> (IR version, ai.onnx opset, ai.onnx.ml opset), as
# onnxruntime's compatibility page documents them (docs/reference/compatibility.md).
ONNXRUNTIME_LIMITS: dict[tuple[int, int], tuple[int, int, int]] = {
    (0, 1): (3, 8, 1),
    (0, 2): (3, 8, 1),
    (0, 3): (3, 9, 1),
    (0, 4): (5, 10, 1),
    (0, 5): (5, 10, 1),
    (1, 0): (6, 11, 2),
    (1, 1): (6, 11, 2),
    (1, 2): (6, 11, 2),
    (1, 3): (7, 12, 2),
    (1, 4): (7, 12, 2),
    (1, 5): (7, 12, 2),
    (1, 6): (7, 13, 2),
    (1, 7): (7, 13, 2),
    (1, 8): (7, 14, 2),
    (1, 9): (8, 15, 2),
    (1, 10): (8, 15, 2),
    (1, 11): (8, 16, 2),
    (1, 12): (8, 17, 3),
    (1, 13): (8, 17, 3),
    (1, 14): (8, 18, 3),
    (1, 15): (8, 19, 3),
    (1, 16): (9, 19, 3),
    (1, 17): (9, 20, 4),
    (1, 18): (10, 21, 4),
    (1, 19): (10, 21, 4),
    (1, 20): (10, 21, 4),
}


def onnxruntime_limits(version: str) -> RuntimeLimits | None:
    """The limits of onnxruntime `version` ("1.16.3", "1.10.0+jetpack"); None for a release
    the table does not list (a newer one: its limits are not known here, nothing is refused)."""
    parts = version.split(".")
    try:
        key = (int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or "x"))
    except (IndexError, ValueError):
        return None
    row = ONNXRUNTIME_LIMITS.get(key)
    if row is None:
        return None
    return RuntimeLimits(f"{key[0]}.{key[1]}", *row)


@dataclass(frozen=True)
class ModelFacts:
    """What the host read from a model file."""

    path: Path
    ir_version: int
    opsets: dict[str, int]  # domain ("" for ai.onnx) -> version
    external: tuple[str, ...]  # its external data files, relative to its directory
    signature: dict[str, Any]  # {"inputs": [...], "outputs": [...]} as the agent's READY

    @property
    def opset(self) -> int | None:
        found = [v for d, v in self.opsets.items() if d in ONNX_DOMAINS]
        return max(found) if found else None


def inspect_model(path: Path) -> ModelFacts:
    """Parse `path` as an ONNX model; InputFileError (one line) when it is not one, or when
    external data it names is missing or shorter than the tensors it holds."""
    import onnx

    if not path.is_file():
        raise InputFileError(f"model file {path} not found")
    # A test runs the same model many times: the file is parsed once while it is unchanged
    # (as sha256_file keys its hashes); its external data is checked every time.
    st = path.stat()
    key = (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns)
    if key not in _parsed:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputFileError(f"model file {path}: cannot read: {exc}") from None
        model = onnx.ModelProto()
        try:
            model.ParseFromString(data)
        except Exception as exc:  # protobuf's DecodeError, or its C++ parser's error
            raise _not_a_model(path, f"it does not parse: {exc}") from None
        if model.ir_version <= 0 or not model.HasField("graph"):
            raise _not_a_model(path, "no IR version or no graph")
        if not model.graph.output:
            raise _not_a_model(path, "its graph has no outputs (truncated?)")
        _parsed[key] = (
            int(model.ir_version),
            {o.domain: int(o.version) for o in model.opset_import},
            _external_needs(path, model),
            _signature(model.graph),
        )
    ir_version, opsets, needs, signature = _parsed[key]
    return ModelFacts(path, ir_version, dict(opsets), _external_files(path, needs), signature)


# (resolved path, inode, size, mtime) -> IR version, opsets, external data needs, signature
_parsed: dict[tuple[str, int, int, int], tuple[int, dict[str, int], ExternalNeeds, Any]] = {}


def _not_a_model(path: Path, why: str) -> InputFileError:
    return InputFileError(
        f"model file {path} is not an ONNX model ({why}); nothing was sent to the board"
    )


def _tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    """Every tensor of a graph: initializers and node attributes, subgraphs included."""
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from _tensors(attr.g)
            for sub in attr.graphs:
                yield from _tensors(sub)


# location of an external data file -> (bytes its tensors need, one of those tensors)
ExternalNeeds = dict[str, tuple[int, str]]


def _external_needs(path: Path, model: onnx.ModelProto) -> ExternalNeeds:
    """The external data files the model's tensors name, with the bytes each must hold."""
    from onnx import external_data_helper

    needed: ExternalNeeds = {}
    for tensor in _tensors(model.graph):
        if not external_data_helper.uses_external_data(tensor):
            continue
        info = external_data_helper.ExternalDataInfo(tensor)
        location = str(info.location)
        normal = posixpath.normpath(location.replace("\\", "/"))
        if not location or posixpath.isabs(normal) or normal.startswith(".."):
            raise InputFileError(
                f"model file {path}: tensor '{tensor.name}' names external data "
                f"'{location}', outside the model's directory; save the model with its data "
                "beside it (onnx.save_model(..., save_as_external_data=True))"
            )
        end = (info.offset or 0) + (info.length or _tensor_bytes(tensor))
        if end > needed.get(normal, (0, ""))[0]:
            needed[normal] = (end, tensor.name)
    return needed


def _external_files(path: Path, needed: ExternalNeeds) -> tuple[str, ...]:
    """The external data files, each checked present and long enough for its tensors."""
    for location, (end, tensor_name) in sorted(needed.items()):
        data = path.parent / location
        if not data.is_file():
            raise InputFileError(
                f"model file {path}: its external data file {data} (tensor '{tensor_name}') "
                "is missing; copy it beside the model; nothing was sent to the board"
            )
        size = data.stat().st_size
        if size < end:
            raise InputFileError(
                f"model file {path}: its external data file {data} has {size} bytes, tensor "
                f"'{tensor_name}' needs {end}; the file is truncated or belongs to another "
                "model; nothing was sent to the board"
            )
    return tuple(sorted(needed))


def _tensor_bytes(tensor: onnx.TensorProto) -> int:
    import onnx

    try:
        itemsize = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
    except (KeyError, TypeError, ValueError):
        return 0
    return itemsize * int(np.prod(tensor.dims, dtype=np.int64))


def _signature(graph: onnx.GraphProto) -> dict[str, Any]:
    initialized = {t.name for t in graph.initializer}

    def describe(values: Any) -> list[dict[str, Any]]:
        return [
            {"name": v.name, "dtype": _dtype(v.type), "shape": _shape(v.type)}
            for v in values
            if v.name not in initialized
        ]

    return {"inputs": describe(graph.input), "outputs": describe(graph.output)}


def _dtype(value_type: onnx.TypeProto) -> str:
    import onnx

    elem = value_type.tensor_type.elem_type
    try:
        return str(onnx.helper.tensor_dtype_to_np_dtype(elem).name)
    except (KeyError, TypeError, ValueError):
        return str(onnx.TensorProto.DataType.Name(elem)).lower()


def _shape(value_type: onnx.TypeProto) -> list[int | None]:
    dims = value_type.tensor_type.shape.dim
    return [int(d.dim_value) if d.HasField("dim_value") else None for d in dims]


def check_runtime(facts: ModelFacts, backend: str, agent: dict[str, Any], board: str) -> None:
    """UnsupportedModel (one line) when the board's `backend`, at the version its agent's HELLO
    (`agent`) names, cannot run a model of this IR version or opset."""
    if backend != "onnxruntime":
        return
    version = (agent.get("versions") or {}).get(backend)
    limits = onnxruntime_limits(str(version)) if version else None
    if limits is None:
        return
    stamped = [f"IR version {facts.ir_version}"] if facts.ir_version > limits.ir_version else []
    opset = facts.opset
    if opset is not None and opset > limits.opset:
        stamped.append(f"opset {opset}")
    ml = facts.opsets.get(ML_DOMAIN)
    if ml is not None and ml > limits.ml_opset:
        stamped.append(f"ai.onnx.ml opset {ml}")
    if stamped:
        raise UnsupportedModel(
            f"model file {facts.path} is {' and '.join(stamped)}; board '{board}' runs "
            f"onnxruntime {version}, which runs up to IR version {limits.ir_version}, opset "
            f"{limits.opset} (ai.onnx.ml {limits.ml_opset}); export the model for that "
            "opset (or convert it: onnx.version_converter) or update the board's "
            "onnxruntime; nothing was sent to the board"
        )
